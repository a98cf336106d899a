terraform {
  required_version = ">= 1.4"
  required_providers {
    vsphere = {
      source  = "hashicorp/vsphere"
      version = "~> 2.9"
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

# Credentials only from the provider's standard environment: VSPHERE_SERVER, VSPHERE_USER,
# VSPHERE_PASSWORD (and VSPHERE_ALLOW_UNVERIFIED_SSL=true for a self-signed vCenter certificate).
provider "vsphere" {}
