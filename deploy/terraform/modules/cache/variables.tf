variable "name" {
  description = "Replication group id prefix (e.g. finsys-prod)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two zones."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the cache nodes (6379 from servers and workers only)."
  type        = list(string)
}

variable "node_type" {
  description = "ElastiCache node type, e.g. cache.t4g.small."
  type        = string
}

variable "replicas" {
  description = "Read replicas besides the primary (1 or more gives automatic failover across zones)."
  type        = number

  validation {
    condition     = var.replicas >= 0 && var.replicas <= 5
    error_message = "replicas must be 0..5."
  }
}

variable "engine_version" {
  description = "Redis engine version (FinSys is tested against Redis 7)."
  type        = string
}

variable "auth_token" {
  description = "The AUTH password (16-128 printable characters, no @, \", / or spaces); FinSys sends it from FINSYS_REDIS_URL."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.auth_token) >= 16 && length(var.auth_token) <= 128 && !can(regex("[@\"/ ]", var.auth_token))
    error_message = "ElastiCache auth tokens are 16-128 characters without @, \", / or spaces."
  }
}
