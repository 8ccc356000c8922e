output "alarm_topic_arn" {
  description = "SNS topic every alarm and Prometheus alert publishes to (subscribe a pager to it)."
  value       = aws_sns_topic.alarms.arn
}

output "prometheus_workspace_arn" {
  description = "The Amazon Managed Service for Prometheus workspace; null when disabled."
  value       = var.enable_prometheus ? aws_prometheus_workspace.this[0].arn : null
}

output "prometheus_endpoint" {
  description = "The workspace's Prometheus-compatible endpoint (Grafana's data source URL); null when disabled."
  value       = var.enable_prometheus ? aws_prometheus_workspace.this[0].prometheus_endpoint : null
}

output "prometheus_remote_write_url" {
  description = "Where the metrics sidecars remote-write; null when disabled."
  value       = var.enable_prometheus ? "${aws_prometheus_workspace.this[0].prometheus_endpoint}api/v1/remote_write" : null
}
