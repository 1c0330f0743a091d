variable "aws_region" {
  description = "Region of the buckets, the key and the box."
  type        = string
}

variable "partition" {
  description = "AWS partition of the ARNs (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
}

variable "landing_bucket" {
  description = "Bucket DMS writes to."
  type        = string
}

variable "landing_prefix" {
  description = "DMS BucketFolder: the folder in the landing bucket that holds <schema>/<table>/ folders."
  type        = string
  default     = "dms"
}

variable "lake_bucket" {
  description = "Bucket of the RAW, CURATED and pipeline (marts) outputs."
  type        = string
}

variable "raw_prefix" {
  description = "Folder of RAW in the lake bucket."
  type        = string
  default     = "raw"
}

variable "curated_prefix" {
  description = "Folder of CURATED in the lake bucket."
  type        = string
  default     = "curated"
}

variable "marts_prefix" {
  description = "Folder of pipeline outputs in the lake bucket."
  type        = string
  default     = "marts"
}

variable "kms_key_arn" {
  description = "ARN of the KMS key the landing and the lake are encrypted with."
  type        = string
}

variable "source_name" {
  description = "The config's source: the Source column of the watermark, first part of Source.TableName."
  type        = string
}

variable "tables" {
  description = "The config's tables (docs/config.md#tables), as a list of objects."
  type        = any
}

variable "config_overrides" {
  description = "Top-level config keys merged over the generated ones (for example pollSeconds, parquet, pipelines)."
  type        = any
  default     = {}
}

variable "node_version" {
  description = "Node.js version installed on the box: the Node 24 that CI tests (scripts/setup-node.sh)."
  type        = string
  default     = "24.22.3"
}

variable "package_source" {
  description = "What `npm install --global` installs: an https URL of the `npm pack` tarball (or an npm spec, once published)."
  type        = string
  default     = ""
}

variable "package_s3_uri" {
  description = "s3:// URI of the `npm pack` tarball; when set, it is copied to the box and installed instead of package_source."
  type        = string
  default     = ""
}

variable "state_volume_id" {
  description = "EBS volume id of the state file's volume, mounted on /var/lib/cdc-apply."
  type        = string
}

variable "metrics_port" {
  description = "Port of /metrics and /healthz."
  type        = number
  default     = 9464
}

variable "metrics_host" {
  description = "Address the metrics server listens on: 127.0.0.1 unless something outside the box scrapes it."
  type        = string
  default     = "127.0.0.1"
}
