# NATS JetStream on EC2: node_count nodes across the private subnets, each
# with a fixed private address (so every node's route list stays right when
# a node is replaced), an encrypted gp3 volume for JetStream's file store
# that outlives the instance, and its credentials read at boot from Secrets
# Manager with the instance's own role (never in user data). nats-server
# comes from Debian's archive, checked by apt's signatures.

data "aws_ami" "debian" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian's official AWS account

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

data "aws_region" "current" {}

locals {
  ami   = var.ami_id != null ? var.ami_id : data.aws_ami.debian[0].id
  zones = length(var.subnet_ids)
  nodes = {
    for i in range(var.node_count) : "nats-${i}" => {
      index  = i
      subnet = var.subnet_ids[i % local.zones]
      az     = var.azs[i % local.zones]
      # .10, .11, ... of the node's subnet (AWS keeps .0-.3 for itself).
      ip = cidrhost(var.subnet_cidrs[i % local.zones], 10 + i)
    }
  }
  ips = [for k in sort(keys(local.nodes)) : local.nodes[k].ip]
}

resource "aws_secretsmanager_secret" "nats" {
  name                    = "${var.name}/nats"
  description             = "NATS credentials of the FinSys cluster (client user and route password)"
  recovery_window_in_days = var.secret_recovery_days
}

resource "aws_secretsmanager_secret_version" "nats" {
  secret_id = aws_secretsmanager_secret.nats.id
  secret_string = jsonencode({
    user           = var.client_user
    password       = var.client_password
    route_password = var.route_password
  })
}

resource "aws_iam_role" "nats" {
  name = "${var.name}-nats"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "nats" {
  name = "read-credentials"
  role = aws_iam_role.nats.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = aws_secretsmanager_secret.nats.arn
    }]
  })
}

resource "aws_iam_instance_profile" "nats" {
  name = "${var.name}-nats"
  role = aws_iam_role.nats.name
}

resource "aws_ebs_volume" "jetstream" {
  for_each          = local.nodes
  availability_zone = each.value.az
  size              = var.volume_size_gb
  type              = "gp3"
  encrypted         = true

  tags = { Name = "${var.name}-${each.key}-jetstream" }
}

resource "aws_instance" "nats" {
  for_each                    = local.nodes
  ami                         = local.ami
  instance_type               = var.instance_type
  subnet_id                   = each.value.subnet
  private_ip                  = each.value.ip
  vpc_security_group_ids      = var.security_group_ids
  iam_instance_profile        = aws_iam_instance_profile.nats.name
  associate_public_ip_address = false
  user_data_replace_on_change = true

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    server_name   = each.key
    volume_id     = aws_ebs_volume.jetstream[each.key].id
    secret_arn    = aws_secretsmanager_secret.nats.arn
    region        = data.aws_region.current.name
    client_port   = var.client_port
    cluster_port  = var.cluster_port
    peers         = [for ip in local.ips : ip if ip != each.value.ip]
    store_max_gb  = floor(var.volume_size_gb * 0.9)
    cluster_name  = var.name
    node_hostname = each.key
  })

  metadata_options {
    http_tokens   = "required" # IMDSv2 only
    http_endpoint = "enabled"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 10
    encrypted   = true
  }

  tags = { Name = "${var.name}-${each.key}", Role = "nats" }
}

resource "aws_volume_attachment" "jetstream" {
  for_each    = local.nodes
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.jetstream[each.key].id
  instance_id = aws_instance.nats[each.key].id
  # Stop nats-server cleanly (the instance) before the volume goes.
  stop_instance_before_detaching = true
}
