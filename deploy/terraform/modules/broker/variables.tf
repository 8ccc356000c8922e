variable "name" {
  description = "Prefix of the nodes' names (e.g. finsys-prod)."
  type        = string
}

variable "node_count" {
  description = "NATS nodes: 3 (a JetStream stream of 3 replicas survives losing one)."
  type        = number

  validation {
    condition     = var.node_count == 3 || var.node_count == 5
    error_message = "A JetStream cluster needs an odd quorum: 3 or 5 nodes."
  }
}

variable "subnet_ids" {
  description = "Private subnets, in the order of azs; node i goes to subnet i % length."
  type        = list(string)
}

variable "subnet_cidrs" {
  description = "The private subnets' blocks, same order: each node gets a fixed address in its subnet, so the routes stay right when a node is replaced."
  type        = list(string)
}

variable "azs" {
  description = "The zones of subnet_ids, same order (each node's data volume must be in its zone)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the nodes (4222 from servers and workers, 6222 between nodes)."
  type        = list(string)
}

variable "instance_type" {
  description = "EC2 instance type of a node, e.g. t3.small."
  type        = string
}

variable "ami_id" {
  description = "AMI of the nodes; null: the newest official Debian 12 amd64 image (nats-server 2.9 comes from Debian's archive)."
  type        = string
  default     = null
}

variable "volume_size_gb" {
  description = "Size of each node's gp3 volume for JetStream's file store, in GiB."
  type        = number

  validation {
    condition     = var.volume_size_gb >= 10
    error_message = "Give JetStream at least 10 GiB."
  }
}

variable "client_port" {
  description = "NATS client port."
  type        = number
}

variable "cluster_port" {
  description = "NATS cluster (route) port."
  type        = number
}

variable "client_user" {
  description = "The NATS user FinSys connects as."
  type        = string
}

variable "client_password" {
  description = "The NATS user's password (letters and digits: it goes into FINSYS_NATS_URL unencoded)."
  type        = string
  sensitive   = true
}

variable "route_password" {
  description = "The password the nodes use on each other's cluster port."
  type        = string
  sensitive   = true
}

variable "secret_recovery_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once)."
  type        = number
}
