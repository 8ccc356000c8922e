# The object store (FINSYS_OBJECTS_DIR): workers write receipts there and
# servers read them, so every task of both roles must see the same files.
# EFS, encrypted at rest and mounted over TLS through one access point that
# pins the owner to FinSys's user. Backed up by AWS Backup's default plan.

resource "aws_efs_file_system" "this" {
  creation_token   = "${var.name}-objects"
  encrypted        = true
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = { Name = "${var.name}-objects" }
}

resource "aws_efs_backup_policy" "this" {
  file_system_id = aws_efs_file_system.this.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_efs_mount_target" "this" {
  count           = length(var.subnet_ids)
  file_system_id  = aws_efs_file_system.this.id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = var.security_group_ids
}

resource "aws_efs_access_point" "objects" {
  file_system_id = aws_efs_file_system.this.id

  posix_user {
    uid = var.uid
    gid = var.uid
  }

  root_directory {
    path = "/objects"
    creation_info {
      owner_uid   = var.uid
      owner_gid   = var.uid
      permissions = "0750"
    }
  }

  tags = { Name = "${var.name}-objects" }
}
