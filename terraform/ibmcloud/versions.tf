terraform {
  required_version = ">= 1.4"
  required_providers {
    ibm = {
      source  = "IBM-Cloud/ibm"
      version = "~> 1.73"
    }
  }
}

# Credentials only from the provider's standard environment: IC_API_KEY (or IBMCLOUD_API_KEY).
provider "ibm" {
  region = var.region
}
