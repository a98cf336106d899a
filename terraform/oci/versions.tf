terraform {
  required_version = ">= 1.4"
  required_providers {
    oci = {
      source  = "oracle/oci"
      version = "~> 6.10"
    }
  }
}

# Credentials only from the provider's standard environment: TF_VAR_tenancy_ocid, TF_VAR_user_ocid,
# TF_VAR_fingerprint, TF_VAR_private_key_path (or TF_VAR_private_key), or the DEFAULT profile of
# ~/.oci/config.
provider "oci" {
  region = var.region
}
