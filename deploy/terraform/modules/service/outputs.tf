output "task_definition_arn" {
  description = "The task definition (family:revision) now in use."
  value       = aws_ecs_task_definition.this.arn
}

output "task_family" {
  description = "The task definition's family (for `aws ecs run-task --task-definition`)."
  value       = aws_ecs_task_definition.this.family
}

output "service_name" {
  description = "The ECS service's name; null for a one-off role (migrate)."
  value       = local.service ? aws_ecs_service.this[0].name : null
}

output "log_group" {
  description = "CloudWatch Logs group of the tasks' containers."
  value       = aws_cloudwatch_log_group.this.name
}
