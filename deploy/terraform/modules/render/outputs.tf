output "unit" {
  description = "The systemd unit, /etc/systemd/system/cdc-apply.service (the one docs/operations.md shows)."
  value       = local.unit
}

output "config_json" {
  description = "The cdc-apply config the box runs, /etc/cdc-apply/cdc-apply.json."
  value       = local.config_json
}

output "user_data" {
  description = "The bootstrap script given to the instance as user data."
  value       = local.user_data
}

output "iam_policy" {
  description = "The least-privilege policy of docs/config.md for these buckets, prefixes and key (JSON)."
  value       = local.iam_policy
}
