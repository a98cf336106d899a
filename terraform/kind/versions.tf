terraform {
  # Built-in resources only (terraform_data + local-exec calling the kind CLI): no provider to download.
  required_version = ">= 1.4"
}
