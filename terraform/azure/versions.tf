terraform {
  required_version = ">= 1.4"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.14"
    }
  }
}

# Credentials only from the provider's standard environment: ARM_SUBSCRIPTION_ID and ARM_TENANT_ID, with
# ARM_CLIENT_ID and ARM_USE_OIDC=true (azure/login with OpenID Connect) or ARM_CLIENT_SECRET.
provider "azurerm" {
  features {
    resource_group {
      prevent_deletion_if_contains_resources = false # AKS adds its own node resource group
    }
  }
}
