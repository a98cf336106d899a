# The outputs every module under terraform/ gives (the contract is in terraform/README.md).

output "kubeconfig" {
  sensitive   = true
  description = "Kubeconfig of the cluster with its admin client certificate (valid while the cluster lives)."
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = local.name
    clusters = [{
      name = local.name
      cluster = {
        server                     = data.ibm_container_cluster_config.this.host
        certificate-authority-data = base64encode(data.ibm_container_cluster_config.this.ca_certificate)
      }
    }]
    users = [{
      name = local.name
      user = {
        client-certificate-data = base64encode(data.ibm_container_cluster_config.this.admin_certificate)
        client-key-data         = base64encode(data.ibm_container_cluster_config.this.admin_key)
      }
    }]
    contexts = [{ name = local.name, context = { cluster = local.name, user = local.name } }]
  })
}

output "endpoint" {
  value       = ibm_container_vpc_cluster.this.public_service_endpoint_url
  description = "URL of the Kubernetes API server (public service endpoint)."
}

output "kubernetes_version" {
  value       = ibm_container_vpc_cluster.this.kube_version
  description = "Kubernetes version IKS runs (like 1.30.4)."
}

output "cloud" {
  value       = "ibmcloud"
  description = "Which cloud module made this environment."
}
