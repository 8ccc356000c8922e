# FinSys on AWS: the API behind an ALB, servers and workers on ECS Fargate,
# RDS PostgreSQL (the source of truth), ElastiCache Redis (rate limits,
# caches, locks), a 3-node NATS JetStream cluster on EC2 (the settlement
# queue), S3 for receipts, exports and the event archive, secrets in Secrets Manager, alarms in
# CloudWatch and FinSys's own metrics in Amazon Managed Service for
# Prometheus. README.md says what it creates, what it costs and how to apply.

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  name = "finsys-${var.environment}"
  azs  = var.azs != null ? var.azs : slice(data.aws_availability_zones.available.names, 0, 2)

  server_port  = 8080
  worker_port  = 8081
  nats_port    = 4222
  nats_cluster = 6222
}

# --- Generated secrets (kept in state: use an encrypted backend) ------------------

resource "random_password" "db" {
  length  = 40
  special = false # it goes into a libpq connection string unquoted
}

resource "random_password" "redis" {
  length  = 48
  special = false # it goes into FINSYS_REDIS_URL, where @ : / % need encoding
}

resource "random_password" "nats" {
  length  = 40
  special = false
}

resource "random_password" "nats_route" {
  length  = 40
  special = false
}

# FINSYS_SECRETS_KEY: 32 random bytes, 64 hex digits; the same on every
# server and worker; never in the database or its backups. Changing it
# makes every sealed webhook secret unreadable (docs/operations.md, "Secrets
# at rest"). It has no keepers, so nothing but a destroy replaces it; the
# output finsys_secrets_key gives it for a copy kept apart.
resource "random_id" "secrets_key" {
  byte_length = 32
}

# --- Network and security groups -------------------------------------------------

module "network" {
  source = "./modules/network"

  name                     = local.name
  vpc_cidr                 = var.vpc_cidr
  azs                      = local.azs
  single_nat_gateway       = var.single_nat_gateway
  flow_logs_retention_days = var.log_retention_days
}

module "security" {
  source = "./modules/security"

  name              = local.name
  vpc_id            = module.network.vpc_id
  alb_ingress_cidrs = var.alb_ingress_cidrs
  server_port       = local.server_port
  nats_client_port  = local.nats_port
  nats_cluster_port = local.nats_cluster
}

# --- Data tiers ----------------------------------------------------------------

module "database" {
  source = "./modules/database"

  name                     = local.name
  subnet_ids               = module.network.private_subnet_ids
  security_group_ids       = [module.security.database_sg_id]
  engine_version           = var.db_engine_version
  instance_class           = var.db_instance_class
  allocated_storage_gb     = var.db_allocated_storage_gb
  max_allocated_storage_gb = var.db_max_allocated_storage_gb
  backup_retention_days    = var.db_backup_retention_days
  multi_az                 = var.db_multi_az
  deletion_protection      = var.db_deletion_protection
  master_username          = "finsys_admin"
}

module "cache" {
  source = "./modules/cache"

  name               = local.name
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.security.redis_sg_id]
  node_type          = var.redis_node_type
  replicas           = var.redis_replicas
  engine_version     = var.redis_engine_version
  auth_token         = random_password.redis.result
}

module "broker" {
  source = "./modules/broker"

  name                 = local.name
  node_count           = 3
  subnet_ids           = module.network.private_subnet_ids
  subnet_cidrs         = module.network.private_subnet_cidrs
  azs                  = local.azs
  security_group_ids   = [module.security.nats_sg_id]
  instance_type        = var.nats_instance_type
  ami_id               = var.nats_ami_id
  volume_size_gb       = var.nats_volume_size_gb
  client_port          = local.nats_port
  cluster_port         = local.nats_cluster
  client_user          = "finsys"
  client_password      = random_password.nats.result
  route_password       = random_password.nats_route.result
  secret_recovery_days = var.secret_recovery_days
}

data "aws_caller_identity" "current" {}

# The object store: S3 (SSE-KMS, Block Public Access, versioning, a
# lifecycle for archive/). Servers and workers sign with their task role's
# credentials, which FinSys fetches from the ECS endpoint itself.
module "objects" {
  source = "./modules/objects"

  name        = local.name
  bucket_name = var.objects_bucket_name != null ? var.objects_bucket_name : "${local.name}-objects-${data.aws_caller_identity.current.account_id}"
  prefix      = "finsys"
}

# --- The application's secret ------------------------------------------------------
#
# One JSON secret; each task gets its keys as environment variables at start
# (ECS reads them with the execution role), never in the task definition.

resource "aws_secretsmanager_secret" "app" {
  name                    = "${local.name}/app"
  description             = "FinSys connection strings and FINSYS_SECRETS_KEY (read by the ECS tasks at start)"
  recovery_window_in_days = var.secret_recovery_days
}

resource "aws_secretsmanager_secret_version" "app" {
  secret_id = aws_secretsmanager_secret.app.id
  secret_string = jsonencode({
    # FinSys's own role (db-bootstrap makes it), over TLS; RDS's name
    # follows a Multi-AZ failover.
    database_url = "host=${module.database.address} port=${module.database.port} dbname=finsys user=finsys password=${random_password.db.result} sslmode=require connect_timeout=5"
    db_password  = random_password.db.result
    # The stunnel sidecar's local end: an IP address, as FinSys requires,
    # and the AUTH token that ElastiCache checks.
    redis_url = "redis://:${random_password.redis.result}@127.0.0.1:6379"
    # Every node; libnats takes a comma-separated list and fails over.
    nats_url    = join(",", [for ip in module.broker.node_ips : "nats://finsys:${random_password.nats.result}@${ip}:${local.nats_port}"])
    secrets_key = random_id.secrets_key.hex
  })
}

# --- ECS: servers, workers, one-off tasks ------------------------------------------

resource "aws_ecs_cluster" "this" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]
}

locals {
  app_secret = aws_secretsmanager_secret.app.arn

  # Secrets Manager JSON keys as environment variables (ARN:key::).
  app_secrets = {
    FINSYS_DATABASE_URL = "${local.app_secret}:database_url::"
    FINSYS_REDIS_URL    = "${local.app_secret}:redis_url::"
    FINSYS_NATS_URL     = "${local.app_secret}:nats_url::"
    FINSYS_SECRETS_KEY  = "${local.app_secret}:secrets_key::"
  }

  common_environment = merge({
    FINSYS_LOG_LEVEL      = "info"
    FINSYS_DB_CONNECTIONS = tostring(var.db_connections_per_thread)
    FINSYS_OBJECTS_URL    = module.objects.url
    # Each JetStream stream on all three broker nodes (module.broker's
    # node_count): one node's loss loses no message.
    FINSYS_NATS_REPLICAS = "3"
  }, var.extra_environment)

  redis_tls = {
    image = var.stunnel_image
    host  = module.cache.primary_endpoint
    port  = module.cache.port
  }

  objects = {
    policy_json = module.objects.task_policy_json
  }

  prometheus = var.enable_prometheus ? {
    image            = var.metrics_image
    remote_write_url = module.monitoring.prometheus_remote_write_url
    workspace_arn    = module.monitoring.prometheus_workspace_arn
    region           = var.region
  } : null
}

module "server" {
  source = "./modules/service"

  name         = "${local.name}-server"
  role         = "server"
  cluster_arn  = aws_ecs_cluster.this.arn
  cluster_name = aws_ecs_cluster.this.name
  image        = var.image
  command      = ["server"]
  cpu          = var.server_cpu
  memory       = var.server_memory

  environment = merge(local.common_environment, {
    FINSYS_HTTP_HOST    = "0.0.0.0"
    FINSYS_HTTP_PORT    = tostring(local.server_port)
    FINSYS_HTTP_THREADS = tostring(max(1, floor(var.server_cpu / 1024)))
    # Behind the ALB every request's TCP peer is one of the ALB's nodes:
    # the per-address limits would throttle everyone together. Tenants'
    # API-key limits still apply; the ALB and WAF are the flood guard.
    FINSYS_RATE_LIMIT_ADDR_PER_S         = "1000000"
    FINSYS_RATE_LIMIT_ADDR_BURST         = "1000000"
    FINSYS_HTTP_CONNECTIONS_PER_ADDR_MAX = "10000"
    FINSYS_ADMIN_COOKIE_SECURE           = "1"
  })
  secrets     = local.app_secrets
  secret_arns = [local.app_secret]

  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.security.server_sg_id]
  container_port     = local.server_port
  metrics_port       = local.server_port
  target_group_arn   = module.loadbalancer.target_group_arn
  # A server drains for the ALB's delay, then finishes in flight.
  stop_timeout_seconds = 30

  desired_count = var.server_min_count
  min_count     = var.server_min_count
  max_count     = var.server_max_count

  log_retention_days = var.log_retention_days
  redis_tls          = local.redis_tls
  objects            = local.objects
  prometheus         = local.prometheus
}

module "worker" {
  source = "./modules/service"

  name         = "${local.name}-worker"
  role         = "worker"
  cluster_arn  = aws_ecs_cluster.this.arn
  cluster_name = aws_ecs_cluster.this.name
  image        = var.image
  command      = ["worker"]
  cpu          = var.worker_cpu
  memory       = var.worker_memory

  environment = merge(local.common_environment, {
    FINSYS_WORKER_PORT  = tostring(local.worker_port)
    FINSYS_PROVIDER_URL = var.provider_url
  })
  secrets     = local.app_secrets
  secret_arns = [local.app_secret]

  # Not behind the ALB: nothing reaches a worker. Its port serves /healthz,
  # /state and /metrics to its own metrics sidecar on loopback.
  subnet_ids           = module.network.private_subnet_ids
  security_group_ids   = [module.security.worker_sg_id]
  container_port       = local.worker_port
  metrics_port         = local.worker_port
  target_group_arn     = null
  stop_timeout_seconds = 120 # payments in hand finish or go back to the queue

  desired_count = var.worker_min_count
  min_count     = var.worker_min_count
  max_count     = var.worker_max_count

  log_retention_days = var.log_retention_days
  redis_tls          = local.redis_tls
  objects            = local.objects
  prometheus         = local.prometheus
}

# `finsys migrate`, run once per release before the services roll
# (README.md, "Deploying a release"). Backward-compatible migrations let old
# and new tasks share the schema during the roll.
module "migrate" {
  source = "./modules/service"

  name         = "${local.name}-migrate"
  role         = "migrate"
  cluster_arn  = aws_ecs_cluster.this.arn
  cluster_name = aws_ecs_cluster.this.name
  image        = var.image
  command      = ["migrate"]
  cpu          = 256
  memory       = 512

  environment = { FINSYS_LOG_LEVEL = "info" }
  secrets     = { FINSYS_DATABASE_URL = local.app_secrets.FINSYS_DATABASE_URL }
  secret_arns = [local.app_secret]

  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.security.worker_sg_id]
  log_retention_days = var.log_retention_days
}

# Once, after the first apply: FinSys's own role (not the master user, not a
# superuser, with a password) and its database, as docs/operations.md
# "Production settings" asks. Idempotent: a second run resets the password
# to the secret's.
module "db_bootstrap" {
  source = "./modules/service"

  name         = "${local.name}-db-bootstrap"
  role         = "db-bootstrap"
  cluster_arn  = aws_ecs_cluster.this.arn
  cluster_name = aws_ecs_cluster.this.name
  image        = var.postgres_client_image
  command = ["sh", "-c", <<-EOT
    psql -v ON_ERROR_STOP=1 -v pw="$APP_DB_PASSWORD" <<'SQL'
    SELECT 'CREATE ROLE finsys LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'
     WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'finsys')\gexec
    ALTER ROLE finsys PASSWORD :'pw';
    GRANT finsys TO CURRENT_USER;
    SELECT 'CREATE DATABASE finsys OWNER finsys'
     WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'finsys')\gexec
    SQL
  EOT
  ]
  cpu    = 256
  memory = 512

  environment = {
    PGHOST     = module.database.address
    PGPORT     = tostring(module.database.port)
    PGUSER     = module.database.master_username
    PGDATABASE = "postgres"
    PGSSLMODE  = "require"
  }
  secrets = {
    PGPASSWORD      = "${module.database.master_user_secret_arn}:password::"
    APP_DB_PASSWORD = "${local.app_secret}:db_password::"
  }
  secret_arns = [local.app_secret, module.database.master_user_secret_arn]

  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.security.worker_sg_id]
  log_retention_days = var.log_retention_days
}

# --- Load balancer and monitoring -------------------------------------------------

module "loadbalancer" {
  source = "./modules/loadbalancer"

  name                         = local.name
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.public_subnet_ids
  security_group_ids           = [module.security.alb_sg_id]
  certificate_arn              = var.certificate_arn
  target_port                  = local.server_port
  deregistration_delay_seconds = var.deregistration_delay_seconds
  idle_timeout_seconds         = 120
  deletion_protection          = var.alb_deletion_protection
}

module "monitoring" {
  source = "./modules/monitoring"

  name                    = local.name
  alarm_email             = var.alarm_email
  enable_prometheus       = var.enable_prometheus
  alert_rules_yaml        = file("${path.module}/../prometheus/alerts.yml")
  alb_arn_suffix          = module.loadbalancer.arn_suffix
  target_group_arn_suffix = module.loadbalancer.target_group_arn_suffix
  db_instance_id          = module.database.instance_id
  db_allocated_storage_gb = var.db_allocated_storage_gb
  cache_cluster_ids       = module.cache.member_cluster_ids
  nats_instance_ids       = module.broker.instance_ids
  ecs_cluster_name        = aws_ecs_cluster.this.name
  ecs_services = {
    "${local.name}-server" = var.server_min_count
    "${local.name}-worker" = var.worker_min_count
  }
}
