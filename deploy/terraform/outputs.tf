output "alb_dns_name" {
  description = "The ALB's DNS name: point the API's host name (in the certificate) at it."
  value       = module.loadbalancer.dns_name
}

output "alb_zone_id" {
  description = "The ALB's hosted zone id, for a Route 53 alias record."
  value       = module.loadbalancer.zone_id
}

output "vpc_id" {
  description = "The VPC."
  value       = module.network.vpc_id
}

output "private_subnet_ids" {
  description = "Private subnets (for `aws ecs run-task` of migrate and db-bootstrap)."
  value       = module.network.private_subnet_ids
}

output "task_security_group_id" {
  description = "Security group for one-off tasks (the workers': database, Redis, NATS, no inbound)."
  value       = module.security.worker_sg_id
}

output "nat_public_ips" {
  description = "Addresses FinSys connects from to the provider and to webhook receivers (for their allow-lists)."
  value       = module.network.nat_public_ips
}

output "ecs_cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "server_service_name" {
  description = "ECS service of the servers."
  value       = module.server.service_name
}

output "worker_service_name" {
  description = "ECS service of the workers."
  value       = module.worker.service_name
}

output "migrate_task_family" {
  description = "Task definition family running `finsys migrate` (run it before each release's services roll)."
  value       = module.migrate.task_family
}

output "db_bootstrap_task_family" {
  description = "Task definition family that creates FinSys's database role and database (once)."
  value       = module.db_bootstrap.task_family
}

output "database_address" {
  description = "RDS PostgreSQL's DNS name (follows a Multi-AZ failover)."
  value       = module.database.address
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret, kept by RDS, of the master user (db-bootstrap only; FinSys never uses it)."
  value       = module.database.master_user_secret_arn
}

output "redis_primary_endpoint" {
  description = "ElastiCache's primary endpoint (TLS; the stunnel sidecars connect to it)."
  value       = module.cache.primary_endpoint
}

output "nats_node_ips" {
  description = "The NATS nodes' fixed private addresses."
  value       = module.broker.node_ips
}

output "app_secret_arn" {
  description = "Secrets Manager secret holding FINSYS_DATABASE_URL, FINSYS_REDIS_URL, FINSYS_NATS_URL and FINSYS_SECRETS_KEY."
  value       = aws_secretsmanager_secret.app.arn
}

output "objects_bucket" {
  description = "S3 bucket of the object store (receipts, exports, the event archive)."
  value       = module.objects.bucket
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm and Prometheus alert."
  value       = module.monitoring.alarm_topic_arn
}

output "prometheus_endpoint" {
  description = "Amazon Managed Service for Prometheus endpoint for Grafana (SigV4), null when disabled."
  value       = module.monitoring.prometheus_endpoint
}

output "finsys_secrets_key" {
  description = "FINSYS_SECRETS_KEY: keep a copy apart from the database's backups (without it no sealed webhook secret opens)."
  value       = random_id.secrets_key.hex
  sensitive   = true
}

output "database_url" {
  description = "FINSYS_DATABASE_URL as the tasks get it (password included)."
  value       = jsondecode(aws_secretsmanager_secret_version.app.secret_string).database_url
  sensitive   = true
}
