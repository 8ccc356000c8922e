output "node_ips" {
  description = "The nodes' fixed private addresses."
  value       = local.ips
}

output "client_urls" {
  description = "nats:// URLs of every node, without credentials (FINSYS_NATS_URL takes them comma-separated with user:password@)."
  value       = [for ip in local.ips : "nats://${ip}:${var.client_port}"]
}

output "instance_ids" {
  description = "EC2 instance ids of the nodes, by name."
  value       = { for k, v in aws_instance.nats : k => v.id }
}

output "secret_arn" {
  description = "Secrets Manager secret with the NATS credentials."
  value       = aws_secretsmanager_secret.nats.arn
}
