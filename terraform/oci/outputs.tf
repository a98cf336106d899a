# The outputs every module under terraform/ gives (the contract is in terraform/README.md).

output "kubeconfig" {
  value       = data.oci_containerengine_cluster_kube_config.this.content
  sensitive   = true
  description = "Kubeconfig of the cluster; authenticates with `oci ce cluster generate-token` as the applying identity."
}

output "endpoint" {
  value       = "https://${oci_containerengine_cluster.this.endpoints[0].public_endpoint}"
  description = "URL of the Kubernetes API server."
}

output "kubernetes_version" {
  value       = oci_containerengine_cluster.this.kubernetes_version
  description = "Kubernetes version OKE runs (like v1.30.1)."
}

output "cloud" {
  value       = "oci"
  description = "Which cloud module made this environment."
}
