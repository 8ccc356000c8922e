variable "name" {
  description = "Prefix of the file system's name (e.g. finsys-prod)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets: one mount target in each."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the mount targets (NFS from servers and workers only)."
  type        = list(string)
}

variable "uid" {
  description = "The uid (and gid) FinSys runs as in its image: the access point makes every file that user's."
  type        = number
}
