output "landing_bucket" {
  description = "Bucket DMS writes to."
  value       = module.cdc_apply.landing_bucket
}

output "lake_bucket" {
  description = "Bucket of RAW and CURATED."
  value       = module.cdc_apply.lake_bucket
}

output "role_arn" {
  description = "The box's IAM role."
  value       = module.cdc_apply.role_arn
}

output "instance_id" {
  description = "The box."
  value       = module.cdc_apply.instance_id
}

output "dms_endpoint_arn" {
  description = "The DMS S3 target endpoint."
  value       = module.cdc_apply.dms_endpoint_arn
}

output "dms_table_mappings" {
  description = "Table mappings for the DMS task."
  value       = module.cdc_apply.dms_table_mappings
}
