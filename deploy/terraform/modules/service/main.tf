# One FinSys role on ECS Fargate: a task definition (FinSys, and beside it
# the stunnel sidecar for Redis over TLS and the metrics sidecar), and for
# server and worker a service that spreads tasks over the zones, rolls out
# with a circuit breaker, and scales on CPU. role = "migrate" (each release)
# and "db-bootstrap" (once) make only a task definition, run with
# `aws ecs run-task`.

data "aws_region" "current" {}

locals {
  service   = contains(["server", "worker"], var.role)
  container = var.role == "db-bootstrap" ? "psql" : "finsys"
  metrics   = local.service && var.prometheus != null && var.metrics_port != null
  log_group = "/finsys/${var.name}"

  redis_tls_container = var.redis_tls == null ? null : {
    name      = "redis-tls"
    image     = var.redis_tls.image
    essential = true
    environment = [
      { name = "REDIS_HOST", value = var.redis_tls.host },
      { name = "REDIS_PORT", value = tostring(var.redis_tls.port) },
      { name = "LISTEN", value = "127.0.0.1:6379" },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = local.log_group
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "redis-tls"
      }
    }
  }

  # The ADOT collector scrapes FinSys's /metrics on loopback under the job
  # names of deploy/prometheus/prometheus.yml (the alert rules expect
  # finsys-*) and remote-writes to Amazon Managed Service for Prometheus,
  # each series labelled with its task (resourcedetection: ecs).
  collector_config = !local.metrics ? null : {
    extensions = {
      sigv4auth = { region = var.prometheus.region, service = "aps" }
    }
    receivers = {
      prometheus = {
        config = {
          global = { scrape_interval = "15s", scrape_timeout = "10s" }
          scrape_configs = [{
            job_name       = "finsys-${var.role}"
            static_configs = [{ targets = ["127.0.0.1:${var.metrics_port}"] }]
          }]
        }
      }
    }
    processors = {
      resourcedetection = { detectors = ["env", "ecs"] }
      batch             = {}
    }
    exporters = {
      prometheusremotewrite = {
        endpoint                         = var.prometheus.remote_write_url
        auth                             = { authenticator = "sigv4auth" }
        resource_to_telemetry_conversion = { enabled = true }
      }
    }
    service = {
      extensions = ["sigv4auth"]
      pipelines = {
        metrics = {
          receivers  = ["prometheus"]
          processors = ["resourcedetection", "batch"]
          exporters  = ["prometheusremotewrite"]
        }
      }
    }
  }

  metrics_container = !local.metrics ? null : {
    name      = "metrics"
    image     = var.prometheus.image
    essential = false # metrics down must not stop payments
    environment = [
      { name = "AOT_CONFIG_CONTENT", value = jsonencode(local.collector_config) },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = local.log_group
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "metrics"
      }
    }
  }

  finsys_container = {
    name        = local.container
    image       = var.image
    command     = var.command
    essential   = true
    stopTimeout = var.stop_timeout_seconds
    environment = [for k in sort(keys(var.environment)) : { name = k, value = var.environment[k] }]
    secrets     = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
    portMappings = var.container_port == null ? [] : [{
      containerPort = var.container_port
      protocol      = "tcp"
    }]
    dependsOn = var.redis_tls == null ? [] : [{ containerName = "redis-tls", condition = "START" }]
    ulimits   = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = local.log_group
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "finsys"
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
}

# Execution role: pull the image, write logs, read the secrets at start.
resource "aws_iam_role" "execution" {
  name = "${var.name}-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secrets" {
  name = "read-finsys-secrets"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = var.secret_arns
    }]
  })
}

# Task role: what the running containers may do: the object store in S3
# (FinSys fetches this role's credentials from the ECS endpoint, see
# docs/operations.md "Object storage"), metrics. Nothing else.
resource "aws_iam_role" "task" {
  name = "${var.name}-task"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "objects" {
  count  = var.objects != null ? 1 : 0
  name   = "finsys-objects"
  role   = aws_iam_role.task.id
  policy = var.objects.policy_json
}

resource "aws_iam_role_policy" "task" {
  count = local.metrics ? 1 : 0
  name  = "finsys-task"
  role  = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["aps:RemoteWrite"]
      Resource = var.prometheus.workspace_arn
    }]
  })
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # A tuple filtered, not concat(): the three containers' objects differ in
  # shape, which a list could not hold.
  container_definitions = jsonencode([
    for c in [local.finsys_container, local.redis_tls_container, local.metrics_container] : c if c != null
  ])
}

resource "aws_ecs_service" "this" {
  count                   = local.service ? 1 : 0
  name                    = var.name
  cluster                 = var.cluster_arn
  task_definition         = aws_ecs_task_definition.this.arn
  desired_count           = var.desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  # Rolling: new tasks come up (and pass /readyz on the ALB) before old
  # ones are drained and stopped; a release that never becomes healthy is
  # rolled back by itself.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  health_check_grace_period_seconds = var.target_group_arn == null ? null : var.health_check_grace_seconds

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = var.target_group_arn == null ? [] : [var.target_group_arn]
    content {
      target_group_arn = load_balancer.value
      container_name   = local.container
      container_port   = var.container_port
    }
  }

  lifecycle {
    # The autoscaler owns the count once the service exists.
    ignore_changes = [desired_count]
  }
}

resource "aws_appautoscaling_target" "this" {
  count              = local.service ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this[0].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_count
  max_capacity       = var.max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  count              = local.service ? 1 : 0
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
