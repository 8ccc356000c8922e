variable "name" {
  description = "Name of the load balancer and its target group (e.g. finsys-prod)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the targets."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets, at least two zones."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the ALB (443 in, the servers' port out)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the API's host name, in the ALB's region."
  type        = string
}

variable "target_port" {
  description = "The servers' API port (FINSYS_HTTP_PORT)."
  type        = number
}

variable "deregistration_delay_seconds" {
  description = "How long a server leaving the target group keeps its in-flight requests before ECS stops it (connection draining)."
  type        = number
}

variable "idle_timeout_seconds" {
  description = "Seconds an idle client connection stays open (the admin console's live stream sends keep-alives more often)."
  type        = number
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
}
