# One customer-managed key for the landing and the lake: DMS (through its S3 role) encrypts, the box decrypts and
# encrypts. Key policies name the key itself as "*".

data "aws_iam_policy_document" "kms" {
  count = var.kms_key_arn == null ? 1 : 0

  #checkov:skip=CKV_AWS_109:a key policy's resource is the key itself ("*"); the account root statement keeps IAM in charge of administration
  #checkov:skip=CKV_AWS_111:a key policy's resource is the key itself ("*"); writes are limited to the named principals
  #checkov:skip=CKV_AWS_356:a key policy's resource is the key itself ("*")
  statement {
    sid       = "AccountRootAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = concat(["arn:${local.partition}:iam::${local.account}:root"], var.kms_admin_arns)
    }
  }

  statement {
    sid       = "BoxReadsAndWrites"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.box.arn]
    }
  }

  dynamic "statement" {
    for_each = var.create_dms_endpoint ? [1] : []
    content {
      sid       = "DmsWritesLanding"
      actions   = ["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = [aws_iam_role.dms_s3[0].arn]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  count                   = var.kms_key_arn == null ? 1 : 0
  description             = "${var.name}: DMS landing and lake objects"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms[0].json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  count         = var.kms_key_arn == null ? 1 : 0
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}
