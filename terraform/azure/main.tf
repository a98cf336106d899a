# The azure cloud: an AKS cluster in a resource group of its own, Microsoft Entra ID authentication with
# Azure RBAC, and the applying identity made cluster admin, so no static credential is ever issued.

locals {
  name = (length(var.cluster_name) <= 54 ? var.cluster_name :
  "${trimsuffix(substr(var.cluster_name, 0, 45), "-")}-${substr(sha1(var.cluster_name), 0, 8)}")
  tags = merge(var.labels, { "crosscloud-cluster" = var.cluster_name })

  vm_sizes = {
    amd64 = "Standard_D2s_v5"
    arm64 = "Standard_D2ps_v5" # Ampere Altra
  }
}

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "this" {
  name     = "${local.name}-rg"
  location = var.region
  tags     = local.tags
}

resource "azurerm_kubernetes_cluster" "this" {
  name                   = local.name
  location               = azurerm_resource_group.this.location
  resource_group_name    = azurerm_resource_group.this.name
  dns_prefix             = local.name
  kubernetes_version     = var.kubernetes_version == null ? null : trimprefix(var.kubernetes_version, "v")
  local_account_disabled = true
  tags                   = local.tags

  default_node_pool {
    name        = "default"
    node_count  = var.node_count
    vm_size     = coalesce(var.vm_size, lookup(local.vm_sizes, var.arch, "none"))
    node_labels = var.labels
    tags        = local.tags
  }

  identity {
    type = "SystemAssigned"
  }

  azure_active_directory_role_based_access_control {
    tenant_id          = data.azurerm_client_config.current.tenant_id
    azure_rbac_enabled = true
  }

  lifecycle {
    precondition {
      condition     = contains(keys(local.vm_sizes), var.arch)
      error_message = "AKS has no ${var.arch} nodes: use amd64 or arm64."
    }
  }
}

# The CI identity that applies this module administers the cluster (kubelogin signs in as it).
resource "azurerm_role_assignment" "admin" {
  scope                = azurerm_kubernetes_cluster.this.id
  role_definition_name = "Azure Kubernetes Service RBAC Cluster Admin"
  principal_id         = data.azurerm_client_config.current.object_id
}
