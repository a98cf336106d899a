terraform {
  required_version = ">= 1.4"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.14"
    }
  }
}

# Credentials only from the provider's standard environment: GOOGLE_APPLICATION_CREDENTIALS (or
# GOOGLE_CREDENTIALS; google-github-actions/auth with workload identity federation sets the first) and
# GOOGLE_PROJECT / GOOGLE_CLOUD_PROJECT.
provider "google" {
  project        = var.project
  default_labels = var.labels
}
