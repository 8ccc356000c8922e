output "dns_name" {
  description = "The ALB's DNS name: point the API's host name (CNAME or Route 53 alias) at it."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "The ALB's hosted zone id (for a Route 53 alias record)."
  value       = aws_lb.this.zone_id
}

output "arn_suffix" {
  description = "The ALB's ARN suffix (CloudWatch dimension)."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn" {
  description = "The servers' target group, once the listener forwards to it (ECS refuses a target group without a load balancer)."
  value       = aws_lb_listener.https.default_action[0].target_group_arn
}

output "target_group_arn_suffix" {
  description = "The target group's ARN suffix (CloudWatch dimension)."
  value       = aws_lb_target_group.server.arn_suffix
}
