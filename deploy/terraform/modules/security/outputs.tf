output "alb_sg_id" {
  description = "Security group of the ALB."
  value       = aws_security_group.alb.id
}

output "server_sg_id" {
  description = "Security group of the finsys server tasks."
  value       = aws_security_group.server.id
}

output "worker_sg_id" {
  description = "Security group of the finsys worker tasks (and of one-off tasks such as migrate)."
  value       = aws_security_group.worker.id
}

output "database_sg_id" {
  description = "Security group of RDS PostgreSQL."
  value       = aws_security_group.database.id
}

output "redis_sg_id" {
  description = "Security group of ElastiCache Redis."
  value       = aws_security_group.redis.id
}

output "nats_sg_id" {
  description = "Security group of the NATS nodes."
  value       = aws_security_group.nats.id
}
