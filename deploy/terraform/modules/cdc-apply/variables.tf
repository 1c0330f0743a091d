variable "name" {
  description = "Prefix of every resource name (role, key alias, security group, DMS endpoint)."
  type        = string
  default     = "cdc-apply"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# --- buckets -------------------------------------------------------------------------------------------------------

variable "create_buckets" {
  description = "Create the landing and lake buckets; false uses existing buckets of these names as they are."
  type        = bool
  default     = true
}

variable "landing_bucket_name" {
  description = "Bucket DMS writes to (globally unique name)."
  type        = string
}

variable "lake_bucket_name" {
  description = "Bucket of RAW, CURATED and pipeline outputs (globally unique name)."
  type        = string
}

variable "landing_prefix" {
  description = "DMS BucketFolder: the landing folder that holds <schema>/<table>/."
  type        = string
  default     = "dms"
}

variable "raw_prefix" {
  description = "RAW folder in the lake bucket."
  type        = string
  default     = "raw"
}

variable "curated_prefix" {
  description = "CURATED folder in the lake bucket."
  type        = string
  default     = "curated"
}

variable "marts_prefix" {
  description = "Pipeline outputs folder in the lake bucket."
  type        = string
  default     = "marts"
}

variable "raw_transition_ia_days" {
  description = "Move RAW objects to STANDARD_IA after this many days; null: never."
  type        = number
  default     = null
}

variable "raw_expiration_days" {
  description = "Delete RAW objects after this many days; null: never. CURATED is never expired by the module."
  type        = number
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Delete old versions of overwritten or deleted objects after this many days (both buckets)."
  type        = number
  default     = 30
}

# --- key -----------------------------------------------------------------------------------------------------------

variable "kms_key_arn" {
  description = "An existing KMS key to use instead of creating one; its key policy must then allow DMS and the box."
  type        = string
  default     = null
}

variable "kms_admin_arns" {
  description = "Principals that administer the created key, besides the account root."
  type        = list(string)
  default     = []
}

# --- the box -------------------------------------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the box's security group."
  type        = string
}

variable "subnet_id" {
  description = "Subnet of the box. It needs a way out on 443 (NAT gateway, or associate_public_ip) for the installs and S3 (or an S3 gateway endpoint)."
  type        = string
}

variable "associate_public_ip" {
  description = "Give the box a public IP (in a public subnet without NAT). Inbound stays closed either way."
  type        = bool
  default     = false
}

variable "instance_type" {
  description = "EC2 instance type of the box."
  type        = string
  default     = "t3.medium"
}

variable "ami_id" {
  description = "AMI of the box; null: the latest Amazon Linux 2023 (x86_64) from ami_ssm_parameter."
  type        = string
  default     = null
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter holding the Amazon Linux 2023 AMI id."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

variable "root_volume_size_gb" {
  description = "Root volume size (gp3): system, Node, the package and its DuckDB."
  type        = number
  default     = 20
}

variable "state_volume_size_gb" {
  description = "Size of the EBS volume (gp3) that holds the state file, mounted on /var/lib/cdc-apply."
  type        = number
  default     = 10
}

variable "metrics_cidr_blocks" {
  description = "CIDRs allowed to reach the metrics port; empty (default): no inbound rule at all, metrics on 127.0.0.1 only."
  type        = list(string)
  default     = []
}

variable "metrics_port" {
  description = "Port of /metrics and /healthz."
  type        = number
  default     = 9464
}

variable "ssm_session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore so that Session Manager gives a shell without SSH. Off: the role has only cdc-apply's policy."
  type        = bool
  default     = false
}

variable "node_version" {
  description = "Node.js installed on the box: the Node 24 that CI tests (scripts/setup-node.sh)."
  type        = string
  default     = "24.22.3"
}

variable "package_source" {
  description = "What `npm install --global` installs on the box: an https URL of the `npm pack` tarball (or an npm spec, once published). One of package_source and package_s3_uri is required."
  type        = string
  default     = ""
}

variable "package_s3_uri" {
  description = "s3:// URI of the `npm pack` tarball; when set the box copies it from S3 (the role may read that one object) and installs it."
  type        = string
  default     = ""
}

# --- the config ----------------------------------------------------------------------------------------------------

variable "source_name" {
  description = "The config's source (the Source column of the watermark)."
  type        = string
}

variable "tables" {
  description = "The config's tables (docs/config.md#tables). Their timestampColumn and sequenceColumn should be dms_timestamp_column and dms_change_seq_column."
  type        = any
}

variable "config_overrides" {
  description = "Top-level config keys merged over the generated ones (pollSeconds, parquet, pipelines, ...)."
  type        = any
  default     = {}
}

# --- Glue catalog --------------------------------------------------------------------------------------------------

variable "enable_glue_catalog" {
  description = "Also allow the box to create and update tables and partitions in one Glue database."
  type        = bool
  default     = false
}

variable "glue_database" {
  description = "Glue database the box may write when enable_glue_catalog is true."
  type        = string
  default     = "cdc_apply"
}

# --- DMS -----------------------------------------------------------------------------------------------------------

variable "create_dms_endpoint" {
  description = "Create the DMS S3 target endpoint (and its role) with the settings cdc-apply's config assumes."
  type        = bool
  default     = true
}

variable "dms_timestamp_column" {
  description = "TimestampColumnName: the commit-time column DMS adds; the tables' timestampColumn."
  type        = string
  default     = "dms_commit_ts"
}

variable "dms_change_seq_column" {
  description = "Column the table-mapping rule adds with $AR_H_CHANGE_SEQ; the tables' sequenceColumn."
  type        = string
  default     = "dms_change_seq"
}

variable "dms_add_column_name" {
  description = "AddColumnName: a header row in every CSV file; set the tables' header to match."
  type        = bool
  default     = false
}

variable "dms_cdc_max_batch_interval" {
  description = "CdcMaxBatchInterval in seconds: a change file at most this often per table."
  type        = number
  default     = 60
}

variable "dms_date_partitioning" {
  description = "DatePartitionEnabled (YYYYMMDD, SLASH): change files in <table>/YYYY/MM/DD/ folders, which cdc-apply lists recursively."
  type        = bool
  default     = true
}

variable "dms_schema_pattern" {
  description = "Schema name pattern of the selection rule in the table mapping."
  type        = string
  default     = "%"
}

variable "dms_table_pattern" {
  description = "Table name pattern of the selection rule in the table mapping."
  type        = string
  default     = "%"
}

variable "create_dms_replication" {
  description = "Also create a replication instance and a full-load-and-cdc task from dms_source_endpoint_arn."
  type        = bool
  default     = false
}

variable "dms_source_endpoint_arn" {
  description = "Source endpoint of the task (created outside this module: it holds the database's credentials)."
  type        = string
  default     = null
}

variable "create_dms_service_roles" {
  description = "With create_dms_replication: create the account-wide dms-vpc-role and dms-cloudwatch-logs-role (false when the account already has them)."
  type        = bool
  default     = true
}

variable "dms_replication_instance_class" {
  description = "Replication instance class."
  type        = string
  default     = "dms.t3.medium"
}

variable "dms_subnet_ids" {
  description = "Subnets of the replication instance, in at least two Availability Zones (needed with create_dms_replication)."
  type        = list(string)
  default     = []
}
