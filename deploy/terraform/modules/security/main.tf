# One security group per tier, each opening only what that tier needs:
#
#   internet --443--> alb --server_port--> server
#   server, worker --5432--> database
#   server, worker --6379 (TLS)--> redis
#   server, worker --4222--> nats;  nats <--6222--> nats
#   server, worker --443--> S3 (the object store; through the NAT, or a
#   gateway endpoint)
#
# Nothing reaches a worker, and nothing but the ALB reaches a server. The
# tasks' egress to the internet stays open on every port: the payment
# provider and tenants' webhook receivers live there, on ports of their own
# choosing (FinSys refuses private and loopback destinations itself).

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "FinSys ALB: HTTPS from the allowed networks, to the servers only"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-alb" }
}

resource "aws_security_group" "server" {
  name        = "${var.name}-server"
  description = "finsys server tasks: the API port from the ALB only"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-server" }
}

resource "aws_security_group" "worker" {
  name        = "${var.name}-worker"
  description = "finsys worker tasks: no inbound traffic"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-worker" }
}

resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "RDS PostgreSQL: 5432 from servers and workers"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-database" }
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "ElastiCache Redis (TLS): 6379 from servers and workers"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-redis" }
}

resource "aws_security_group" "nats" {
  name        = "${var.name}-nats"
  description = "NATS JetStream nodes: 4222 from servers and workers, 6222 between nodes"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-nats" }
}

locals {
  apps = {
    server = aws_security_group.server.id
    worker = aws_security_group.worker.id
  }
}

# ALB
resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.alb_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_server" {
  security_group_id            = aws_security_group.alb.id
  description                  = "to the servers' API port"
  referenced_security_group_id = aws_security_group.server.id
  ip_protocol                  = "tcp"
  from_port                    = var.server_port
  to_port                      = var.server_port
}

# Servers: from the ALB only.
resource "aws_vpc_security_group_ingress_rule" "server_from_alb" {
  security_group_id            = aws_security_group.server.id
  description                  = "API and /readyz from the ALB"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.server_port
  to_port                      = var.server_port
}

# Servers and workers: anywhere out (provider, webhooks, image registry,
# Secrets Manager, CloudWatch, and the data tiers below).
resource "aws_vpc_security_group_egress_rule" "app_out" {
  for_each          = local.apps
  security_group_id = each.value
  description       = "${each.key}: outbound (provider, webhooks, AWS APIs, data tiers)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

# Data tiers: from servers and workers only.
resource "aws_vpc_security_group_ingress_rule" "database" {
  for_each                     = local.apps
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from ${each.key}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each                     = local.apps
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis over TLS from ${each.key}'s stunnel sidecar"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_ingress_rule" "nats_client" {
  for_each                     = local.apps
  security_group_id            = aws_security_group.nats.id
  description                  = "NATS clients: ${each.key}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = var.nats_client_port
  to_port                      = var.nats_client_port
}

resource "aws_vpc_security_group_ingress_rule" "nats_cluster" {
  security_group_id            = aws_security_group.nats.id
  description                  = "NATS cluster routes between the nodes"
  referenced_security_group_id = aws_security_group.nats.id
  ip_protocol                  = "tcp"
  from_port                    = var.nats_cluster_port
  to_port                      = var.nats_cluster_port
}

# The NATS nodes install nats-server from Debian's mirror and read their
# credentials from Secrets Manager (both over HTTPS through NAT), and talk
# to each other on the cluster port.
resource "aws_vpc_security_group_egress_rule" "nats_https" {
  security_group_id = aws_security_group.nats.id
  description       = "HTTPS out: Debian mirror, Secrets Manager, CloudWatch"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "nats_http" {
  security_group_id = aws_security_group.nats.id
  description       = "HTTP out: Debian mirror (apt checks signatures)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "nats_cluster" {
  security_group_id            = aws_security_group.nats.id
  description                  = "NATS cluster routes to the other nodes"
  referenced_security_group_id = aws_security_group.nats.id
  ip_protocol                  = "tcp"
  from_port                    = var.nats_cluster_port
  to_port                      = var.nats_cluster_port
}
