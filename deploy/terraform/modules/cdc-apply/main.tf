# One EC2 box running `cdc-apply run --watch` under systemd, with the buckets, key, role and DMS S3 target endpoint it
# expects. docs/deploy.md walks through it; docs/config.md and docs/operations.md describe what the box runs.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region
  tags      = merge({ "app" = "cdc-apply" }, var.tags)

  landing_bucket = var.create_buckets ? aws_s3_bucket.this["landing"].bucket : var.landing_bucket_name
  lake_bucket    = var.create_buckets ? aws_s3_bucket.this["lake"].bucket : var.lake_bucket_name
  kms_key_arn    = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.this[0].arn
}

# The user data, the systemd unit and the IAM policy, rendered by a provider-less module that the tests render too
module "render" {
  source = "../render"

  aws_region       = local.region
  partition        = local.partition
  landing_bucket   = local.landing_bucket
  landing_prefix   = var.landing_prefix
  lake_bucket      = local.lake_bucket
  raw_prefix       = var.raw_prefix
  curated_prefix   = var.curated_prefix
  marts_prefix     = var.marts_prefix
  kms_key_arn      = local.kms_key_arn
  source_name      = var.source_name
  tables           = var.tables
  config_overrides = var.config_overrides
  node_version     = var.node_version
  package_source   = var.package_source
  package_s3_uri   = var.package_s3_uri
  state_volume_id  = aws_ebs_volume.state.id
  metrics_port     = var.metrics_port
  metrics_host     = length(var.metrics_cidr_blocks) > 0 ? "0.0.0.0" : "127.0.0.1"
}
