variable "name" {
  description = "Identifier prefix of the instance and its groups (e.g. finsys-prod)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two zones (Multi-AZ needs both)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the instance (5432 from servers and workers only)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL version: FinSys needs 15 (a major version alone lets RDS pick and upgrade the minor one)."
  type        = string

  validation {
    condition     = can(regex("^15(\\.[0-9]+)?$", var.engine_version))
    error_message = "FinSys is built and tested against PostgreSQL 15: engine_version must be 15 or 15.N."
  }
}

variable "instance_class" {
  description = "RDS instance class, e.g. db.m6g.large."
  type        = string
}

variable "allocated_storage_gb" {
  description = "Initial gp3 storage in GiB."
  type        = number

  validation {
    condition     = var.allocated_storage_gb >= 20
    error_message = "RDS gp3 storage starts at 20 GiB."
  }
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB (0 turns autoscaling off)."
  type        = number
}

variable "backup_retention_days" {
  description = "Days of automated backups, which are also the window of point-in-time recovery (1..35)."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be 1..35: 0 would turn off backups and point-in-time recovery."
  }
}

variable "multi_az" {
  description = "A synchronous standby in a second zone with automatic failover."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (turn off on purpose before a destroy)."
  type        = bool
}

variable "master_username" {
  description = "The RDS master user (rds_superuser, used only to create FinSys's own role once)."
  type        = string
}
