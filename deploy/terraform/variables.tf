# --- Where ---------------------------------------------------------------------

variable "region" {
  description = "AWS region of the whole stack."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name, part of every resource's name (finsys-<environment>-...): lower-case letters, digits and dashes."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.environment))
    error_message = "environment must be 2-15 characters of a-z, 0-9 and -, starting with a letter (it ends up in ALB and RDS names)."
  }
}

variable "azs" {
  description = "Two (or more) availability zones; null: the region's first two."
  type        = list(string)
  default     = null

  validation {
    condition     = var.azs == null ? true : length(var.azs) >= 2
    error_message = "Give at least two availability zones, or null."
  }
}

variable "vpc_cidr" {
  description = "The VPC's IPv4 block (/16 to /24)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone: about 33 USD a month less, but the private subnets lose outbound traffic (provider, webhooks) if that zone fails."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource (besides Project, Environment and ManagedBy)."
  type        = map(string)
  default     = {}
}

# --- The API's front door ----------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate (same region) for the API's host name, served by the ALB on 443."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:...)."
  }
}

variable "alb_ingress_cidrs" {
  description = "Who may reach the API on 443: the internet by default, or your partners' and offices' blocks."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the ALB (turn off on purpose before a destroy)."
  type        = bool
  default     = true
}

variable "deregistration_delay_seconds" {
  description = "Connection draining: a server leaving the ALB keeps serving its in-flight requests this long before ECS stops it."
  type        = number
  default     = 30

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be 0..3600."
  }
}

# --- Images ------------------------------------------------------------------------

variable "image" {
  description = "The FinSys image built from the repository's Dockerfile (entrypoint finsys), e.g. ghcr.io/OWNER/finsys:v1.2.3 or ...@sha256:...; the workflow publishes it on v* tags."
  type        = string

  validation {
    condition     = can(regex("^[^@ ]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$", var.image)) && !can(regex(":latest$", var.image))
    error_message = "image must name a tag or a digest, and not :latest (a deploy must know what it runs)."
  }
}

variable "stunnel_image" {
  description = "The Redis TLS sidecar built from deploy/stunnel/Dockerfile, e.g. ghcr.io/OWNER/finsys-stunnel:v1.2.3."
  type        = string

  validation {
    condition     = can(regex("^[^@ ]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$", var.stunnel_image))
    error_message = "stunnel_image must name a tag or a digest."
  }
}

variable "metrics_image" {
  description = "The metrics sidecar (AWS Distro for OpenTelemetry collector) that scrapes /metrics and remote-writes to Prometheus."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.0"
}

variable "postgres_client_image" {
  description = "An image with psql, for the one-off task that creates FinSys's database role (db-bootstrap)."
  type        = string
  default     = "public.ecr.aws/docker/library/postgres:15-bookworm"
}

variable "objects_bucket_name" {
  description = "The object store's S3 bucket; null: finsys-ENVIRONMENT-objects-ACCOUNT_ID."
  type        = string
  default     = null
}

# --- FinSys settings -------------------------------------------------------------

variable "provider_url" {
  description = "The payment provider's base URL the workers call (FINSYS_PROVIDER_URL)."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.provider_url))
    error_message = "provider_url must be an http:// or https:// URL."
  }
}

variable "db_connections_per_thread" {
  description = "FINSYS_DB_CONNECTIONS: database connections per event loop of each task (1..16). Keep tasks x threads x this under the instance's max_connections."
  type        = number
  default     = 4

  validation {
    condition     = var.db_connections_per_thread >= 1 && var.db_connections_per_thread <= 16
    error_message = "db_connections_per_thread must be 1..16 (FinSys's own limit)."
  }
}

variable "extra_environment" {
  description = "More FINSYS_* settings for both servers and workers (docs/operations.md, Configure), e.g. { FINSYS_LOG_LEVEL = \"debug\" }. Never secrets: those go in Secrets Manager."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : can(regex("^FINSYS_[A-Z0-9_]+$", k)) && !contains(["FINSYS_DATABASE_URL", "FINSYS_REDIS_URL", "FINSYS_NATS_URL", "FINSYS_SECRETS_KEY", "FINSYS_DEV"], k)])
    error_message = "extra_environment takes FINSYS_* names only, and never the secrets (DATABASE_URL, REDIS_URL, NATS_URL, SECRETS_KEY) nor FINSYS_DEV."
  }
}

# --- Servers and workers (ECS Fargate) -------------------------------------------

variable "server_cpu" {
  description = "Fargate CPU units of a server task (1024 = 1 vCPU); FINSYS_HTTP_THREADS follows it."
  type        = number
  default     = 1024
}

variable "server_memory" {
  description = "Memory of a server task in MiB."
  type        = number
  default     = 2048
}

variable "server_min_count" {
  description = "Fewest server tasks (2: one per zone)."
  type        = number
  default     = 2

  validation {
    condition     = var.server_min_count >= 2
    error_message = "At least two servers, so a zone or a task can fail without an outage."
  }
}

variable "server_max_count" {
  description = "Most server tasks the CPU autoscaler may run."
  type        = number
  default     = 6
}

variable "worker_cpu" {
  description = "Fargate CPU units of a worker task."
  type        = number
  default     = 1024
}

variable "worker_memory" {
  description = "Memory of a worker task in MiB."
  type        = number
  default     = 2048
}

variable "worker_min_count" {
  description = "Fewest worker tasks (2: one per zone)."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_min_count >= 1
    error_message = "At least one worker, or no payment settles."
  }
}

variable "worker_max_count" {
  description = "Most worker tasks the CPU autoscaler may run."
  type        = number
  default     = 4
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the containers' logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

# --- PostgreSQL (RDS) ------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m6g.large"
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage of the database in GiB."
  type        = number
  default     = 100
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB (0: off)."
  type        = number
  default     = 500
}

variable "db_engine_version" {
  description = "PostgreSQL version (15 or 15.N)."
  type        = string
  default     = "15"
}

variable "db_multi_az" {
  description = "A synchronous standby in the other zone with automatic failover (about doubles the database's cost)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups and of point-in-time recovery (1..35)."
  type        = number
  default     = 14
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (turn off on purpose before a destroy)."
  type        = bool
  default     = true
}

# --- Redis (ElastiCache) ---------------------------------------------------------

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_replicas" {
  description = "Replicas besides the primary (1: automatic failover to the other zone)."
  type        = number
  default     = 1
}

variable "redis_engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

# --- NATS JetStream (EC2) --------------------------------------------------------

variable "nats_instance_type" {
  description = "EC2 instance type of a NATS node."
  type        = string
  default     = "t3.small"
}

variable "nats_volume_size_gb" {
  description = "gp3 volume of each NATS node for JetStream's file store, in GiB."
  type        = number
  default     = 50
}

variable "nats_ami_id" {
  description = "AMI of the NATS nodes; null: the newest official Debian 12 amd64 image."
  type        = string
  default     = null
}

# --- Secrets, monitoring ---------------------------------------------------------

variable "secret_recovery_days" {
  description = "Days a deleted secret stays restorable (7..30, or 0 to delete at once: test stacks only)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_days == 0 || (var.secret_recovery_days >= 7 && var.secret_recovery_days <= 30)
    error_message = "secret_recovery_days must be 0 or 7..30 (Secrets Manager's range)."
  }
}

variable "enable_prometheus" {
  description = "Amazon Managed Service for Prometheus: a workspace the tasks' metrics sidecars write to, with deploy/prometheus/alerts.yml as its rules."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "An address subscribed to the alarm topic (it confirms by mail); null: none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null ? true : can(regex("^[^@ ]+@[^@ ]+\\.[^@ ]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}
