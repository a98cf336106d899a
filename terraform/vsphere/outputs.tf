# The outputs every module under terraform/ gives (the contract is in terraform/README.md).

output "kubeconfig" {
  sensitive   = true
  description = "Kubeconfig of the cluster: trusts the terraform-made CA, authenticates with the 24-hour bootstrap token bound to cluster-admin."
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = local.name
    clusters = [{
      name = local.name
      cluster = {
        server                     = "https://${terraform_data.api_ready.output}"
        certificate-authority-data = base64encode(tls_self_signed_cert.ca.cert_pem)
      }
    }]
    users    = [{ name = local.name, user = { token = local.kubeadm_token } }]
    contexts = [{ name = local.name, context = { cluster = local.name, user = local.name } }]
  })
}

output "endpoint" {
  value       = "https://${terraform_data.api_ready.output}"
  description = "URL of the Kubernetes API server."
}

output "kubernetes_version" {
  value       = local.kubeadm_version
  description = "The Kubernetes version kubeadm was asked for: v1.30.4, or stable-1.30 (newest patch of a minor)."
}

output "cloud" {
  value       = "vsphere"
  description = "Which cloud module made this environment."
}
