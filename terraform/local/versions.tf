terraform {
  # Built-in resources only (terraform_data): applies offline, with no provider to download.
  required_version = ">= 1.4"
}
