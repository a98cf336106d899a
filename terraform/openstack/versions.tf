terraform {
  required_version = ">= 1.4"
  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "~> 2.1"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

# Credentials only from the provider's standard environment: OS_CLOUD (a clouds.yaml entry) or OS_AUTH_URL
# with OS_APPLICATION_CREDENTIAL_ID / OS_APPLICATION_CREDENTIAL_SECRET (or OS_USERNAME, OS_PASSWORD,
# OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME).
provider "openstack" {
  region = var.region
}
