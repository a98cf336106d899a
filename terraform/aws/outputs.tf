# The outputs every module under terraform/ gives (the contract is in terraform/README.md).

output "kubeconfig" {
  sensitive   = true
  description = "Kubeconfig of the cluster; authenticates with `aws eks get-token` (AWS CLI) as the applying identity."
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = local.name
    clusters = [{
      name = local.name
      cluster = {
        server                     = aws_eks_cluster.this.endpoint
        certificate-authority-data = aws_eks_cluster.this.certificate_authority[0].data
      }
    }]
    users = [{
      name = local.name
      user = {
        exec = {
          apiVersion = "client.authentication.k8s.io/v1beta1"
          command    = "aws"
          args       = ["eks", "get-token", "--cluster-name", aws_eks_cluster.this.name, "--region", var.region, "--output", "json"]
        }
      }
    }]
    contexts = [{ name = local.name, context = { cluster = local.name, user = local.name } }]
  })
}

output "endpoint" {
  value       = aws_eks_cluster.this.endpoint
  description = "URL of the Kubernetes API server."
}

output "kubernetes_version" {
  value       = aws_eks_cluster.this.version
  description = "Kubernetes minor version EKS runs (like 1.30)."
}

output "cloud" {
  value       = "aws"
  description = "Which cloud module made this environment."
}
