output "bucket" {
  description = "The bucket's name."
  value       = aws_s3_bucket.objects.id
}

output "bucket_arn" {
  description = "The bucket's ARN."
  value       = aws_s3_bucket.objects.arn
}

output "kms_key_arn" {
  description = "The bucket's KMS key."
  value       = aws_kms_key.objects.arn
}

output "url" {
  description = "FINSYS_OBJECTS_URL for the servers and workers."
  value       = "s3://${aws_s3_bucket.objects.id}/${var.prefix}?region=${data.aws_region.current.name}"
}

output "task_policy_json" {
  description = "The servers' and workers' task role policy: objects under the prefix, the list of it, the key."
  value       = jsonencode(local.task_policy)
}
