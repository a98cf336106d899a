# The outputs every module under terraform/ gives (the contract is in terraform/README.md).

output "kubeconfig" {
  value       = local.kubeconfig
  sensitive   = true
  description = "Kubeconfig of the cluster (admin client certificate), as kind create wrote it."
}

output "endpoint" {
  value       = try(yamldecode(local.kubeconfig).clusters[0].cluster.server, null)
  description = "URL of the Kubernetes API server (https://127.0.0.1:<port>)."
}

output "kubernetes_version" {
  value       = local.version
  description = "Kubernetes version of the nodes (the kindest/node image's tag)."
}

output "cloud" {
  value       = "kind"
  description = "Which cloud module made this environment."
}

output "kind_cluster_name" {
  value       = local.name
  description = "Name of the kind cluster (cluster_name, shortened when longer than kind allows)."
}
