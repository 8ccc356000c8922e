variable "name" {
  description = "Prefix of the KMS key's alias (e.g. finsys-prod)."
  type        = string
}

variable "bucket_name" {
  description = "The bucket (globally unique; S3's rules: 3 to 63 of [a-z0-9.-])."
  type        = string
}

variable "prefix" {
  description = "The prefix FinSys's objects are under (FINSYS_OBJECTS_URL's PREFIX), no slash at either end."
  type        = string
  default     = "finsys"
}

variable "archive_transition_days" {
  description = "Days after which archive/ objects move to Glacier Instant Retrieval."
  type        = number
  default     = 90
}

variable "archive_expiration_days" {
  description = "Days after which archive/ objects are deleted (your retention duty); null: kept."
  type        = number
  default     = null
}
