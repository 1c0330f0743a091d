# Landing (DMS writes) and lake (RAW, CURATED, marts): versioned, SSE-KMS by default, public access blocked, TLS only.

locals {
  buckets = var.create_buckets ? { landing = var.landing_bucket_name, lake = var.lake_bucket_name } : {}
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:access logs need a separate log bucket; CloudTrail data events are the audit trail of choice here, outside this module
  #checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery decision; RAW can be rebuilt from the landing and CURATED from RAW
  #checkov:skip=CKV2_AWS_62:nothing consumes bucket events: cdc-apply polls the landing
  for_each = local.buckets
  bucket   = each.value
  tags     = merge(local.tags, { "cdc-apply-role" = each.key })
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each   = aws_s3_bucket.this
  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# Old versions of overwritten date partitions expire; RAW may move to STANDARD_IA and expire when asked
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = each.key == "lake" && (var.raw_transition_ia_days != null || var.raw_expiration_days != null) ? [1] : []
    content {
      id     = "raw"
      status = "Enabled"
      filter {
        prefix = "${var.raw_prefix}/"
      }
      dynamic "transition" {
        for_each = var.raw_transition_ia_days != null ? [var.raw_transition_ia_days] : []
        content {
          days          = transition.value
          storage_class = "STANDARD_IA"
        }
      }
      dynamic "expiration" {
        for_each = var.raw_expiration_days != null ? [var.raw_expiration_days] : []
        content {
          days = expiration.value
        }
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
