output "primary_endpoint" {
  description = "DNS name of the primary (follows a failover): what the stunnel sidecars connect to."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "port" {
  description = "Redis's TLS port."
  value       = aws_elasticache_replication_group.this.port
}

output "replication_group_id" {
  description = "The replication group's id (CloudWatch dimension)."
  value       = aws_elasticache_replication_group.this.id
}

output "member_cluster_ids" {
  description = "The group's node ids (<id>-001, -002, ...), known before apply (CloudWatch dimension CacheClusterId)."
  value       = [for i in range(1 + var.replicas) : format("%s-%03d", var.name, i + 1)]
}
