terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    # Pinned exactly: a plan made today is the plan made next month. Bump
    # deliberately, read the provider's changelog, and commit the new
    # .terraform.lock.hcl that `terraform init -upgrade` writes.
    aws = {
      source  = "hashicorp/aws"
      version = "5.82.2"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.6.3"
    }
  }

  # State holds the generated passwords and FINSYS_SECRETS_KEY: keep it in an
  # encrypted, access-controlled backend, e.g.
  #   terraform init -backend-config="bucket=..." -backend-config="key=finsys/terraform.tfstate" \
  #     -backend-config="region=eu-west-1" -backend-config="encrypt=true" -backend-config="use_lockfile=true"
  # backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project     = "finsys"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
