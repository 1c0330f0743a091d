variable "region" {
  description = "Region of everything."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of resource names."
  type        = string
  default     = "cdc-apply"
}

variable "landing_bucket_name" {
  description = "Bucket DMS writes to (globally unique)."
  type        = string
}

variable "lake_bucket_name" {
  description = "Bucket of RAW and CURATED (globally unique)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the box."
  type        = string
}

variable "subnet_id" {
  description = "Subnet of the box, with a way out on 443."
  type        = string
}

variable "associate_public_ip" {
  description = "Public IP for the box (public subnet without NAT)."
  type        = bool
  default     = false
}

variable "instance_type" {
  description = "Instance type of the box."
  type        = string
  default     = "t3.medium"
}

variable "package_source" {
  description = "https URL of the cdc-apply tarball (or an npm spec, once published); or set package_s3_uri."
  type        = string
  default     = ""
}

variable "package_s3_uri" {
  description = "s3:// URI of the `npm pack` tarball (used instead of package_source when set)."
  type        = string
  default     = ""
}

variable "ssm_session_manager" {
  description = "Shell access through Session Manager."
  type        = bool
  default     = true
}

variable "raw_expiration_days" {
  description = "Delete RAW objects after this many days (null: keep)."
  type        = number
  default     = null
}

variable "source_name" {
  description = "The config's source."
  type        = string
  default     = "CRM"
}

variable "tables" {
  description = "The config's tables (docs/config.md#tables)."
  type        = any
  default = [
    {
      name                 = "customers"
      path                 = "public/customers"
      includeOpForFullLoad = true
      # the CSV columns in file order, without Op: DMS's timestamp column first, the added change sequence last
      columns = [
        { name = "dms_commit_ts", type = "timestamp" },
        { name = "id", type = "integer" },
        { name = "name" },
        { name = "city" },
        { name = "dms_change_seq" },
      ]
      primaryKey      = ["id"]
      timestampColumn = "dms_commit_ts"
      sequenceColumn  = "dms_change_seq"
    },
  ]
}
