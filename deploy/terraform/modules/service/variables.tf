variable "name" {
  description = "Name of the service, its task family and its roles (e.g. finsys-prod-server)."
  type        = string
}

variable "role" {
  description = "Role of the tasks: server or worker (a service each), or migrate or db-bootstrap (one-off tasks: a task definition, no service)."
  type        = string

  validation {
    condition     = contains(["server", "worker", "migrate", "db-bootstrap"], var.role)
    error_message = "role must be server, worker, migrate or db-bootstrap."
  }
}

variable "cluster_arn" {
  description = "ECS cluster the service runs in."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name (for the autoscaling resource id)."
  type        = string
}

variable "image" {
  description = "FinSys image (the repository's Dockerfile, entrypoint finsys), by tag or digest."
  type        = string
}

variable "command" {
  description = "Arguments to the image's entrypoint (finsys): [\"server\"], [\"worker\"], [\"migrate\"]."
  type        = list(string)
}

variable "cpu" {
  description = "Fargate task CPU units (256, 512, 1024, 2048, 4096)."
  type        = number

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "Fargate CPU must be 256, 512, 1024, 2048 or 4096 units."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB (must fit the CPU size)."
  type        = number
}

variable "environment" {
  description = "Plain environment of the FinSys container (FINSYS_* settings without secrets)."
  type        = map(string)
}

variable "secrets" {
  description = "Environment variables taken from Secrets Manager: name => valueFrom (ARN, or ARN:json-key::)."
  type        = map(string)
}

variable "secret_arns" {
  description = "Secrets the task execution role may read (the ARNs behind var.secrets)."
  type        = list(string)
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "container_port" {
  description = "Port the FinSys container listens on (API for server, FINSYS_WORKER_PORT for worker); null for none."
  type        = number
  default     = null
}

variable "metrics_port" {
  description = "Port whose /metrics the metrics sidecar scrapes on 127.0.0.1; null: no sidecar."
  type        = number
  default     = null
}

variable "target_group_arn" {
  description = "ALB target group of the tasks (server only); null: not behind the load balancer."
  type        = string
  default     = null
}

variable "health_check_grace_seconds" {
  description = "Seconds ECS ignores failing load balancer health checks after a task starts (migrations, connection warm-up)."
  type        = number
  default     = 60
}

variable "stop_timeout_seconds" {
  description = "Seconds between SIGTERM and SIGKILL when a task stops (FinSys finishes what it has in hand), at most 120 on Fargate."
  type        = number
  default     = 60

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120
    error_message = "stop_timeout_seconds must be 2..120 on Fargate."
  }
}

variable "desired_count" {
  description = "Tasks at creation (autoscaling moves it between min_count and max_count afterwards)."
  type        = number
  default     = 2
}

variable "min_count" {
  description = "Autoscaling floor: at least 2 keeps a task in each zone."
  type        = number
  default     = 2
}

variable "max_count" {
  description = "Autoscaling ceiling (mind the database's max_connections: tasks x threads x FINSYS_DB_CONNECTIONS)."
  type        = number
  default     = 6
}

variable "cpu_target_percent" {
  description = "Average CPU the autoscaler aims for."
  type        = number
  default     = 60
}

variable "log_retention_days" {
  description = "Days the containers' logs are kept in CloudWatch Logs."
  type        = number
}

variable "redis_tls" {
  description = "The stunnel sidecar giving hiredis (no TLS) a plaintext Redis on 127.0.0.1:6379 that it carries over TLS to ElastiCache; null: none."
  type = object({
    image = string
    host  = string
    port  = number
  })
  default = null
}

variable "objects" {
  description = "The S3 object store (FINSYS_OBJECTS_URL): the task role's policy on its bucket, prefix and KMS key (modules/objects' task_policy_json); null: none."
  type = object({
    policy_json = string
  })
  default = null
}

variable "prometheus" {
  description = "Where the metrics sidecar (ADOT collector) remote-writes what it scrapes; null: no sidecar."
  type = object({
    image            = string
    remote_write_url = string
    workspace_arn    = string
    region           = string
  })
  default = null
}
