# ElastiCache Redis: TLS in transit (required), encrypted at rest, an AUTH
# token, a replica in the other zone with automatic failover. Redis holds no
# money for FinSys (rate limits, caches, locks; docs/architecture.md), so a
# failover that loses the last writes costs nothing but a cold cache.
#
# FinSys's Redis client (hiredis 0.14, Debian 12) has no TLS: each task runs
# a stunnel sidecar (deploy/stunnel) that listens on 127.0.0.1:6379 and
# opens TLS to this group's primary endpoint, verifying its certificate
# (docs/operations.md, "Redis").

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_elasticache_parameter_group" "this" {
  name   = "${var.name}-redis7"
  family = "redis7"

  # A cache: evict the least recently used keys with a TTL when full, never
  # refuse a write (FinSys falls through to the database on errors anyway).
  parameter {
    name  = "maxmemory-policy"
    value = "volatile-lru"
  }
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.name
  description          = "FinSys rate limits, caches and locks"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name

  num_cache_clusters         = 1 + var.replicas
  automatic_failover_enabled = var.replicas > 0
  multi_az_enabled           = var.replicas > 0

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = var.security_group_ids

  at_rest_encryption_enabled = true
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = var.auth_token
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = 1
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false
}
