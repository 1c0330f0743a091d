# Example root: one cdc-apply box with its buckets, key, role and DMS S3 target endpoint. State lives in S3 with S3
# native locking (a lock object next to the state; no DynamoDB table). See docs/deploy.md.

terraform {
  required_version = ">= 1.11.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0.0, < 7.0.0"
    }
  }

  # Values come from `terraform init -backend-config=backend.hcl` (see backend.hcl.example): the state bucket is
  # created once by hand, before this root (docs/deploy.md, step 2).
  backend "s3" {
    key          = "cdc-apply/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { "managed-by" = "terraform" }
  }
}

module "cdc_apply" {
  source = "../../modules/cdc-apply"

  name                = var.name
  landing_bucket_name = var.landing_bucket_name
  lake_bucket_name    = var.lake_bucket_name
  vpc_id              = var.vpc_id
  subnet_id           = var.subnet_id
  associate_public_ip = var.associate_public_ip
  instance_type       = var.instance_type
  package_source      = var.package_source
  package_s3_uri      = var.package_s3_uri
  ssm_session_manager = var.ssm_session_manager
  raw_expiration_days = var.raw_expiration_days

  source_name = var.source_name
  tables      = var.tables
  # DMS writes a change file per table at most every 60 s: polling every 30 s is enough, and 6x fewer LIST requests
  config_overrides = { pollSeconds = 30 }
}
