# The object store (FINSYS_OBJECTS_URL): receipts, exports and the event
# archive in S3 under one prefix. Private (Block Public Access, ACLs off),
# encrypted with a KMS key of its own (SSE-KMS, bucket key on), versioned,
# TLS only, with a lifecycle for archive/. The tasks reach it with their
# task role's credentials, which FinSys fetches from the ECS endpoint
# (docs/operations.md "Object storage"); task_policy_json is that role's
# least-privilege policy.

data "aws_region" "current" {}

resource "aws_kms_key" "objects" {
  description             = "${var.name} object store (SSE-KMS)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "objects" {
  name          = "alias/${var.name}-objects"
  target_key_id = aws_kms_key.objects.key_id
}

resource "aws_s3_bucket" "objects" {
  bucket = var.bucket_name
  tags   = { Name = var.bucket_name }
}

resource "aws_s3_bucket_public_access_block" "objects" {
  bucket                  = aws_s3_bucket.objects.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "objects" {
  bucket = aws_s3_bucket.objects.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "objects" {
  bucket = aws_s3_bucket.objects.id
  versioning_configuration {
    status = "Enabled"
  }
}

# FinSys sends no encryption headers: this default applies to every PUT.
resource "aws_s3_bucket_server_side_encryption_configuration" "objects" {
  bucket = aws_s3_bucket.objects.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.objects.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "objects" {
  bucket     = aws_s3_bucket.objects.id
  depends_on = [aws_s3_bucket_versioning.objects]

  # The event-log archive: rarely read, kept long.
  rule {
    id     = "archive"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/archive/"
    }
    transition {
      days          = var.archive_transition_days
      storage_class = "GLACIER_IR"
    }
    dynamic "expiration" {
      for_each = var.archive_expiration_days == null ? [] : [var.archive_expiration_days]
      content {
        days = expiration.value
      }
    }
  }

  # Everything: old versions go after 30 days, stray multipart uploads
  # (FinSys makes none; other tools may) after one.
  rule {
    id     = "versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_policy" "objects" {
  bucket     = aws_s3_bucket.objects.id
  depends_on = [aws_s3_bucket_public_access_block.objects]
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "TLSOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.objects.arn, "${aws_s3_bucket.objects.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "KMSOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.objects.arn}/*"
        Condition = {
          StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption" = "aws:kms" }
        }
      },
    ]
  })
}

# The task role's policy (servers' and workers'): the prefix only.
# kms:GenerateDataKey to write (each object's data key), kms:Decrypt to
# read; ListBucket with GetObject so that a missing object is a 404, not a
# 403; DeleteObject for the archive's retention.
locals {
  task_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "Objects"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
        Resource = "${aws_s3_bucket.objects.arn}/${var.prefix}/*"
      },
      {
        Sid       = "List"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = aws_s3_bucket.objects.arn
        Condition = { StringLike = { "s3:prefix" = ["${var.prefix}/*"] } }
      },
      {
        Sid       = "Key"
        Effect    = "Allow"
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = aws_kms_key.objects.arn
        Condition = { StringEquals = { "kms:ViaService" = "s3.${data.aws_region.current.name}.amazonaws.com" } }
      },
    ]
  }
}
