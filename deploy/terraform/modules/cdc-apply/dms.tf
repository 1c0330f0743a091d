# The DMS S3 target endpoint with the settings cdc-apply's config assumes (docs/config.md, docs/semantics.md): CSV,
# an Op column in the full load too, a commit-time column, optional header row, a file per table at most every
# CdcMaxBatchInterval, date folders, SSE-KMS with the module's key. The table mapping adds the change-sequence column
# ($AR_H_CHANGE_SEQ) that orders changes within a commit time. The replication instance and task are optional.

locals {
  table_mappings = jsonencode({
    rules = [
      {
        "rule-type"      = "selection"
        "rule-id"        = "1"
        "rule-name"      = "include"
        "object-locator" = { "schema-name" = var.dms_schema_pattern, "table-name" = var.dms_table_pattern }
        "rule-action"    = "include"
      },
      {
        "rule-type"      = "transformation"
        "rule-id"        = "2"
        "rule-name"      = "change-seq"
        "rule-target"    = "column"
        "object-locator" = { "schema-name" = var.dms_schema_pattern, "table-name" = var.dms_table_pattern }
        "rule-action"    = "add-column"
        "value"          = var.dms_change_seq_column
        "expression"     = "$AR_H_CHANGE_SEQ"
        "data-type"      = { "type" = "string", "length" = 50 }
      },
    ]
  })
}

data "aws_iam_policy_document" "assume_dms" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["dms.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "dms_s3" {
  count              = var.create_dms_endpoint ? 1 : 0
  name               = "${var.name}-dms-s3-target"
  assume_role_policy = data.aws_iam_policy_document.assume_dms.json
  tags               = local.tags
}

data "aws_iam_policy_document" "dms_s3" {
  count = var.create_dms_endpoint ? 1 : 0
  statement {
    sid       = "WriteLanding"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"]
    resources = ["arn:${local.partition}:s3:::${local.landing_bucket}/${var.landing_prefix}/*"]
  }
  statement {
    sid       = "ListLanding"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${local.landing_bucket}"]
  }
  statement {
    sid       = "EncryptLanding"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "dms_s3" {
  count  = var.create_dms_endpoint ? 1 : 0
  name   = "s3-target"
  role   = aws_iam_role.dms_s3[0].id
  policy = data.aws_iam_policy_document.dms_s3[0].json
}

resource "aws_dms_s3_endpoint" "landing" {
  count                   = var.create_dms_endpoint ? 1 : 0
  endpoint_id             = "${var.name}-landing"
  endpoint_type           = "target"
  bucket_name             = local.landing_bucket
  bucket_folder           = var.landing_prefix
  service_access_role_arn = aws_iam_role.dms_s3[0].arn

  data_format              = "csv"
  compression_type         = "NONE"
  rfc_4180                 = true
  include_op_for_full_load = true
  timestamp_column_name    = var.dms_timestamp_column
  add_column_name          = var.dms_add_column_name
  cdc_max_batch_interval   = var.dms_cdc_max_batch_interval
  date_partition_enabled   = var.dms_date_partitioning
  date_partition_sequence  = var.dms_date_partitioning ? "YYYYMMDD" : null
  date_partition_delimiter = var.dms_date_partitioning ? "SLASH" : null

  kms_key_arn                       = local.kms_key_arn # encrypts the endpoint's own settings
  encryption_mode                   = "SSE_KMS"
  server_side_encryption_kms_key_id = local.kms_key_arn

  tags       = local.tags
  depends_on = [aws_iam_role_policy.dms_s3]
}

# DMS needs these two account-wide roles, with these exact names, before it creates a replication instance; an account
# that already ran DMS has them (set create_dms_service_roles = false there)
resource "aws_iam_role" "dms_vpc" {
  count              = var.create_dms_replication && var.create_dms_service_roles ? 1 : 0
  name               = "dms-vpc-role"
  assume_role_policy = data.aws_iam_policy_document.assume_dms.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "dms_vpc" {
  count      = length(aws_iam_role.dms_vpc)
  role       = aws_iam_role.dms_vpc[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonDMSVPCManagementRole"
}

resource "aws_iam_role" "dms_cloudwatch" {
  count              = var.create_dms_replication && var.create_dms_service_roles ? 1 : 0
  name               = "dms-cloudwatch-logs-role"
  assume_role_policy = data.aws_iam_policy_document.assume_dms.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "dms_cloudwatch" {
  count      = length(aws_iam_role.dms_cloudwatch)
  role       = aws_iam_role.dms_cloudwatch[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonDMSCloudWatchLogsRole"
}

resource "aws_dms_replication_subnet_group" "this" {
  count                                = var.create_dms_replication ? 1 : 0
  replication_subnet_group_id          = "${var.name}-dms"
  replication_subnet_group_description = "${var.name}: DMS replication instance"
  subnet_ids                           = var.dms_subnet_ids
  tags                                 = local.tags
  depends_on                           = [aws_iam_role_policy_attachment.dms_vpc]
}

resource "aws_dms_replication_instance" "this" {
  count                       = var.create_dms_replication ? 1 : 0
  replication_instance_id     = "${var.name}-dms"
  replication_instance_class  = var.dms_replication_instance_class
  allocated_storage           = 50
  publicly_accessible         = false
  multi_az                    = false
  auto_minor_version_upgrade  = true
  replication_subnet_group_id = aws_dms_replication_subnet_group.this[0].id
  vpc_security_group_ids      = [aws_security_group.box.id]
  kms_key_arn                 = local.kms_key_arn
  tags                        = local.tags
}

resource "aws_dms_replication_task" "this" {
  count                    = var.create_dms_replication ? 1 : 0
  replication_task_id      = "${var.name}-to-landing"
  migration_type           = "full-load-and-cdc"
  replication_instance_arn = aws_dms_replication_instance.this[0].replication_instance_arn
  source_endpoint_arn      = var.dms_source_endpoint_arn
  target_endpoint_arn      = aws_dms_s3_endpoint.landing[0].endpoint_arn
  table_mappings           = local.table_mappings
  start_replication_task   = false
  tags                     = local.tags

  lifecycle {
    precondition {
      condition     = var.dms_source_endpoint_arn != null && var.create_dms_endpoint && length(var.dms_subnet_ids) >= 2
      error_message = "create_dms_replication needs dms_source_endpoint_arn, create_dms_endpoint and two dms_subnet_ids."
    }
  }
}
