terraform {
  required_version = ">= 1.4"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

# Credentials only from the provider's standard environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_SESSION_TOKEN, AWS_PROFILE, or the web identity that aws-actions/configure-aws-credentials sets).
provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}
