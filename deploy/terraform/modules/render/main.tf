# Renders what the box is made of: its user data (bootstrap script), the systemd unit and the cdc-apply IAM policy.
# No provider and no resources, so test/deploy.test.ts renders exactly these files with the real terraform.

locals {
  unit = templatefile("${path.module}/templates/cdc-apply.service.tftpl", {
    aws_region        = var.aws_region
    metrics_port      = var.metrics_port
    metrics_host_flag = var.metrics_host == "127.0.0.1" ? "" : " --metrics-host ${var.metrics_host}"
  })

  config_json = jsonencode(merge({
    source  = var.source_name
    landing = "s3://${var.landing_bucket}/${var.landing_prefix}"
    raw     = "s3://${var.lake_bucket}/${var.raw_prefix}"
    curated = "s3://${var.lake_bucket}/${var.curated_prefix}"
    state   = "/var/lib/cdc-apply/state.sqlite"
    s3      = { region = var.aws_region }
    encryption = {
      raw     = { mode = "SSE-KMS", kmsKeyId = var.kms_key_arn }
      curated = { mode = "SSE-KMS", kmsKeyId = var.kms_key_arn }
    }
    tables = var.tables
  }, var.config_overrides))

  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    node_version    = var.node_version
    state_volume_id = var.state_volume_id
    package_source  = var.package_source
    package_s3_uri  = var.package_s3_uri
    config_json     = local.config_json
    unit            = local.unit
  })

  iam_policy = templatefile("${path.module}/templates/iam-policy.json.tftpl", {
    partition      = var.partition
    landing_bucket = var.landing_bucket
    landing_prefix = var.landing_prefix
    lake_bucket    = var.lake_bucket
    raw_prefix     = var.raw_prefix
    curated_prefix = var.curated_prefix
    marts_prefix   = var.marts_prefix
    kms_key_arn    = var.kms_key_arn
  })
}
