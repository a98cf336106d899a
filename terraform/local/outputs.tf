# The outputs every module under terraform/ gives (see terraform/README.md), and the local cloud's own.

output "kubeconfig" {
  value       = null
  sensitive   = true
  description = "Kubeconfig of the cluster. The local cloud runs no Kubernetes: null."
}

output "endpoint" {
  value       = "127.0.0.1"
  description = "Where deployed services are reached."
}

output "kubernetes_version" {
  value       = null
  description = "Kubernetes version of the cluster; null without Kubernetes."
}

output "cloud" {
  value       = "local"
  description = "Which cloud module made this environment."
}

output "sandbox" {
  value       = terraform_data.sandbox.output.path
  description = "The sandbox directory the deploy stage runs processes in."
}
