output "landing_bucket" {
  description = "Bucket DMS writes to."
  value       = local.landing_bucket
}

output "lake_bucket" {
  description = "Bucket of RAW, CURATED and marts."
  value       = local.lake_bucket
}

output "kms_key_arn" {
  description = "Key of the landing and the lake."
  value       = local.kms_key_arn
}

output "role_arn" {
  description = "The box's IAM role."
  value       = aws_iam_role.box.arn
}

output "instance_profile" {
  description = "The box's instance profile."
  value       = aws_iam_instance_profile.box.name
}

output "instance_id" {
  description = "The box."
  value       = aws_instance.box.id
}

output "state_volume_id" {
  description = "EBS volume of the state file (/var/lib/cdc-apply)."
  value       = aws_ebs_volume.state.id
}

output "dms_endpoint_arn" {
  description = "The DMS S3 target endpoint, when created."
  value       = var.create_dms_endpoint ? aws_dms_s3_endpoint.landing[0].endpoint_arn : null
}

output "dms_table_mappings" {
  description = "Table mappings for a DMS task to this landing: the selection rule and the change-sequence column."
  value       = local.table_mappings
}

output "config_json" {
  description = "The config the box runs (/etc/cdc-apply/cdc-apply.json)."
  value       = module.render.config_json
}
