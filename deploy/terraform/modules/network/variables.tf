variable "name" {
  description = "Prefix of every resource's Name tag (e.g. finsys-prod)."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's IPv4 block, /16 to /24; each subnet is a sixteenth of it (a /16 gives /20 subnets)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("^[0-9.]+/(1[6-9]|2[0-4])$", var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR block from /16 to /24."
  }
}

variable "azs" {
  description = "Availability zones, one public and one private subnet in each (two or more)."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 8
    error_message = "Two to eight availability zones: every tier has a copy in a second zone."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper; outbound traffic from the private subnets stops if its zone fails) instead of one per zone."
  type        = bool
}

variable "flow_logs_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs; 0 turns flow logs off."
  type        = number
}
