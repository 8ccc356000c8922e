output "address" {
  description = "The instance's DNS name (it follows a Multi-AZ failover)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL's port."
  value       = aws_db_instance.this.port
}

output "instance_id" {
  description = "The RDS instance identifier (CloudWatch dimension DBInstanceIdentifier)."
  value       = aws_db_instance.this.identifier
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret (kept by RDS) with the master user's password."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "master_username" {
  description = "The master user's name."
  value       = aws_db_instance.this.username
}
