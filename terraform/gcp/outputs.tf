# The outputs every module under terraform/ gives (the contract is in terraform/README.md).

output "kubeconfig" {
  sensitive   = true
  description = "Kubeconfig of the cluster; authenticates with gke-gcloud-auth-plugin as the applying identity."
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = local.name
    clusters = [{
      name = local.name
      cluster = {
        server                     = "https://${google_container_cluster.this.endpoint}"
        certificate-authority-data = google_container_cluster.this.master_auth[0].cluster_ca_certificate
      }
    }]
    users = [{
      name = local.name
      user = {
        exec = {
          apiVersion         = "client.authentication.k8s.io/v1beta1"
          command            = "gke-gcloud-auth-plugin"
          provideClusterInfo = true
        }
      }
    }]
    contexts = [{ name = local.name, context = { cluster = local.name, user = local.name } }]
  })
}

output "endpoint" {
  value       = "https://${google_container_cluster.this.endpoint}"
  description = "URL of the Kubernetes API server."
}

output "kubernetes_version" {
  value       = google_container_cluster.this.master_version
  description = "Kubernetes version of the control plane (like 1.30.5-gke.1014001)."
}

output "cloud" {
  value       = "gcp"
  description = "Which cloud module made this environment."
}
