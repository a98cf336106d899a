# The gcp cloud: a GKE Standard cluster whose default node pool is replaced by one of node_count nodes
# of the machine type arch asks for. The kubeconfig uses gke-gcloud-auth-plugin, so it holds no secret.

locals {
  # GKE cluster names: a letter, then at most 39 lower-case letters, digits or '-'.
  name = (length(var.cluster_name) <= 40 && can(regex("^[a-z]", var.cluster_name)) ? var.cluster_name :
  "c${substr(trimsuffix(substr(var.cluster_name, 0, 30), "-"), 0, 30)}-${substr(sha1(var.cluster_name), 0, 8)}")

  machine_types = {
    amd64 = "e2-standard-2"
    arm64 = "t2a-standard-2" # Tau T2A (Ampere Altra)
  }
  version = var.kubernetes_version == null ? null : trimprefix(var.kubernetes_version, "v")
}

resource "google_container_cluster" "this" {
  name                     = local.name
  location                 = var.region
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = false
  min_master_version       = local.version
  resource_labels          = var.labels

  # A pinned version must not move under the job: no channel then.
  release_channel {
    channel = local.version == null ? "REGULAR" : "UNSPECIFIED"
  }

  ip_allocation_policy {}

  lifecycle {
    precondition {
      condition     = contains(keys(local.machine_types), var.arch)
      error_message = "GKE has no ${var.arch} nodes: use amd64 or arm64."
    }
  }
}

resource "google_container_node_pool" "this" {
  name       = "nodes"
  cluster    = google_container_cluster.this.id
  location   = var.region
  node_count = var.node_count
  version    = local.version

  node_config {
    machine_type    = coalesce(var.machine_type, lookup(local.machine_types, var.arch, "none"))
    labels          = var.labels
    resource_labels = var.labels
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
  }

  management {
    auto_repair  = true
    auto_upgrade = local.version == null
  }
}
