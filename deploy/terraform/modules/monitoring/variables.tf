variable "name" {
  description = "Prefix of the alarms, topic and workspace (e.g. finsys-prod)."
  type        = string
}

variable "alarm_email" {
  description = "An address subscribed to the alarm topic (it must confirm by mail); null: subscribe yourself."
  type        = string
  default     = null
}

variable "enable_prometheus" {
  description = "Create the Amazon Managed Service for Prometheus workspace, FinSys's alert rules in it and its alert manager."
  type        = bool
}

variable "alert_rules_yaml" {
  description = "Prometheus alert rules loaded into the workspace (deploy/prometheus/alerts.yml)."
  type        = string
}

variable "alb_arn_suffix" {
  description = "The ALB's ARN suffix (CloudWatch dimension LoadBalancer)."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "The servers' target group ARN suffix (CloudWatch dimension TargetGroup)."
  type        = string
}

variable "db_instance_id" {
  description = "RDS instance identifier."
  type        = string
}

variable "db_allocated_storage_gb" {
  description = "RDS storage in GiB; the free-storage alarm fires below a tenth of it."
  type        = number
}

variable "cache_cluster_ids" {
  description = "ElastiCache member cluster ids (one alarm each)."
  type        = list(string)
}

variable "nats_instance_ids" {
  description = "NATS nodes' EC2 instance ids by name (a failed system check recovers the instance)."
  type        = map(string)
}

variable "ecs_cluster_name" {
  description = "ECS cluster name (Container Insights dimension)."
  type        = string
}

variable "ecs_services" {
  description = "ECS services whose running task count must not fall below the minimum: name => minimum."
  type        = map(number)
}
