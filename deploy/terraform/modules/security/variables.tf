variable "name" {
  description = "Prefix of the security groups' names (e.g. finsys-prod)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC the groups belong to."
  type        = string
}

variable "alb_ingress_cidrs" {
  description = "IPv4 blocks allowed to reach the ALB on 443 (the internet by default)."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.alb_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "Every entry of alb_ingress_cidrs must be an IPv4 CIDR block."
  }
}

variable "server_port" {
  description = "The port finsys server listens on in its task (FINSYS_HTTP_PORT)."
  type        = number
}

variable "nats_client_port" {
  description = "NATS client port (4222)."
  type        = number
}

variable "nats_cluster_port" {
  description = "NATS cluster (route) port between the NATS nodes (6222)."
  type        = number
}
