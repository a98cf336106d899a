# The outputs every module under terraform/ gives (the contract is in terraform/README.md).

output "kubeconfig" {
  sensitive   = true
  description = "Kubeconfig of the cluster; authenticates with kubelogin (--login azurecli) as the applying identity."
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = local.name
    clusters = [{
      name = local.name
      cluster = {
        server                     = "https://${azurerm_kubernetes_cluster.this.fqdn}:443"
        certificate-authority-data = azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate
      }
    }]
    users = [{
      name = local.name
      user = {
        exec = {
          apiVersion = "client.authentication.k8s.io/v1beta1"
          command    = "kubelogin"
          # 6dae42f8-...: the fixed application id of the AKS Microsoft Entra server.
          args = ["get-token", "--login", "azurecli", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"]
        }
      }
    }]
    contexts = [{ name = local.name, context = { cluster = local.name, user = local.name } }]
  })
}

output "endpoint" {
  value       = "https://${azurerm_kubernetes_cluster.this.fqdn}:443"
  description = "URL of the Kubernetes API server."
}

output "kubernetes_version" {
  value       = azurerm_kubernetes_cluster.this.current_kubernetes_version
  description = "Kubernetes version AKS runs (like 1.30.4)."
}

output "cloud" {
  value       = "azure"
  description = "Which cloud module made this environment."
}
