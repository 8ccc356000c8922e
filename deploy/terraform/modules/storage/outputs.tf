output "file_system_id" {
  description = "The EFS file system of the object store."
  value       = aws_efs_file_system.this.id
}

output "file_system_arn" {
  description = "Its ARN (for the tasks' IAM policy)."
  value       = aws_efs_file_system.this.arn
}

output "access_point_id" {
  description = "The access point the tasks mount."
  value       = aws_efs_access_point.objects.id
}

output "access_point_arn" {
  description = "Its ARN (for the tasks' IAM policy)."
  value       = aws_efs_access_point.objects.arn
}
