terraform {
  required_version = ">= 1.4"
  required_providers {
    equinix = {
      source  = "equinix/equinix"
      version = "~> 2.0"
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

# Credentials only from the provider's standard environment: METAL_AUTH_TOKEN.
provider "equinix" {}
