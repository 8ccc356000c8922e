# Alarms and metrics. Two paths, both to one SNS topic:
# - CloudWatch alarms on what AWS measures (ALB, RDS, ElastiCache, the NATS
#   instances, ECS task counts);
# - Amazon Managed Service for Prometheus: the tasks' metrics sidecars
#   remote-write FinSys's own /metrics there, the workspace evaluates
#   deploy/prometheus/alerts.yml (the same rules `make test` unit-tests),
#   and its alert manager publishes to the topic. Point Grafana (data source
#   uid finsys-prometheus, SigV4) at the workspace to use deploy/grafana.

data "aws_region" "current" {}

# Not encrypted with the AWS-managed SNS key: CloudWatch alarms cannot
# publish to a topic under it (its key policy does not let them). Alarms
# carry names and figures, no payment data.
resource "aws_sns_topic" "alarms" {
  name = "${var.name}-alarms"
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_sns_topic_policy" "alarms" {
  arn = aws_sns_topic.alarms.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CloudWatchAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms.arn
      },
      {
        Sid       = "PrometheusAlertManager"
        Effect    = "Allow"
        Principal = { Service = "aps.amazonaws.com" }
        Action    = ["sns:Publish", "sns:GetTopicAttributes"]
        Resource  = aws_sns_topic.alarms.arn
      },
    ]
  })
}

# --- Prometheus -------------------------------------------------------------

resource "aws_prometheus_workspace" "this" {
  count = var.enable_prometheus ? 1 : 0
  alias = var.name
}

resource "aws_prometheus_rule_group_namespace" "finsys" {
  count        = var.enable_prometheus ? 1 : 0
  name         = "finsys"
  workspace_id = aws_prometheus_workspace.this[0].id
  data         = var.alert_rules_yaml
}

resource "aws_prometheus_alert_manager_definition" "this" {
  count        = var.enable_prometheus ? 1 : 0
  workspace_id = aws_prometheus_workspace.this[0].id
  definition = yamlencode({
    alertmanager_config = yamlencode({
      route = {
        receiver        = "sns"
        group_by        = ["alertname", "job"]
        group_wait      = "30s"
        group_interval  = "5m"
        repeat_interval = "4h"
      }
      receivers = [{
        name = "sns"
        sns_configs = [{
          topic_arn = aws_sns_topic.alarms.arn
          sigv4     = { region = data.aws_region.current.name }
          subject   = "FinSys alert"
        }]
      }]
    })
  })
}

# --- CloudWatch alarms -------------------------------------------------------

locals {
  actions = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  alarm_name          = "${var.name}-alb-target-5xx"
  alarm_description   = "Servers answer 5xx (docs/operations.md, FinsysHighErrorRatio): read the server log and /readyz."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  dimensions          = { LoadBalancer = var.alb_arn_suffix }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 50
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "alb_unhealthy" {
  alarm_name          = "${var.name}-servers-unhealthy"
  alarm_description   = "A server task fails /readyz on the ALB: a dependency (database, Redis, NATS) is down for it."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "alb_no_healthy" {
  alarm_name          = "${var.name}-no-healthy-server"
  alarm_description   = "No server passes /readyz: the API is down."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  alarm_name          = "${var.name}-db-cpu"
  alarm_description   = "PostgreSQL CPU above 80% for 15 min: see docs/operations.md, Tune, or a larger instance class."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = var.db_instance_id }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = 80
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "db_storage" {
  alarm_name          = "${var.name}-db-free-storage"
  alarm_description   = "PostgreSQL has less than a tenth of its storage free."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = var.db_instance_id }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.db_allocated_storage_gb * 1073741824 / 10
  comparison_operator = "LessThanThreshold"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "db_connections" {
  alarm_name          = "${var.name}-db-connections"
  alarm_description   = "PostgreSQL connections above 400: tasks x FINSYS_HTTP_THREADS x FINSYS_DB_CONNECTIONS is near max_connections."
  namespace           = "AWS/RDS"
  metric_name         = "DatabaseConnections"
  dimensions          = { DBInstanceIdentifier = var.db_instance_id }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 400
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = local.actions
}

resource "aws_cloudwatch_metric_alarm" "cache_cpu" {
  for_each            = toset(var.cache_cluster_ids)
  alarm_name          = "${var.name}-redis-cpu-${each.value}"
  alarm_description   = "Redis engine CPU above 80%: FinSys falls through to the database when Redis is slow, so PostgreSQL takes the load."
  namespace           = "AWS/ElastiCache"
  metric_name         = "EngineCPUUtilization"
  dimensions          = { CacheClusterId = each.value }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = 80
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = local.actions
}

# A NATS node whose host fails is recovered (same address, same volume).
resource "aws_cloudwatch_metric_alarm" "nats_recover" {
  for_each            = var.nats_instance_ids
  alarm_name          = "${var.name}-${each.key}-system-check"
  alarm_description   = "The host of NATS node ${each.key} failed its system check: EC2 recovers it onto other hardware."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed_System"
  dimensions          = { InstanceId = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = concat(local.actions, ["arn:aws:automate:${data.aws_region.current.name}:ec2:recover"])
}

resource "aws_cloudwatch_metric_alarm" "nats_instance" {
  for_each            = var.nats_instance_ids
  alarm_name          = "${var.name}-${each.key}-instance-check"
  alarm_description   = "NATS node ${each.key} failed its instance check (the OS): reboot or replace it (terraform apply -replace)."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed_Instance"
  dimensions          = { InstanceId = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Container Insights: fewer tasks running than the service's minimum.
resource "aws_cloudwatch_metric_alarm" "ecs_running" {
  for_each            = var.ecs_services
  alarm_name          = "${var.name}-${each.key}-tasks"
  alarm_description   = "Fewer ${each.key} tasks running than its minimum (${each.value}): tasks crash or cannot start (image, secrets, subnets)."
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = var.ecs_cluster_name, ServiceName = each.key }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 5
  threshold           = each.value
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}
