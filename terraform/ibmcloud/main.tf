# The ibmcloud cloud: an IBM Cloud Kubernetes Service cluster on VPC infrastructure, in a VPC of its own
# with one subnet (and a public gateway for outbound traffic) in zone 1 of the region.

locals {
  name = (length(var.cluster_name) <= 32 ? var.cluster_name :
  "${trimsuffix(substr(var.cluster_name, 0, 23), "-")}-${substr(sha1(var.cluster_name), 0, 8)}")
  zone = "${var.region}-1"
  # IBM Cloud tags are plain strings: key:value.
  tags = [for k, v in merge(var.labels, { "crosscloud-cluster" = var.cluster_name }) : "${k}:${v}"]
}

data "ibm_resource_group" "this" {
  name = var.resource_group
}

resource "ibm_is_vpc" "this" {
  name           = local.name
  resource_group = data.ibm_resource_group.this.id
  tags           = local.tags
}

resource "ibm_is_public_gateway" "this" {
  name           = "${local.name}-gw"
  vpc            = ibm_is_vpc.this.id
  zone           = local.zone
  resource_group = data.ibm_resource_group.this.id
  tags           = local.tags
}

resource "ibm_is_subnet" "this" {
  name                     = "${local.name}-${local.zone}"
  vpc                      = ibm_is_vpc.this.id
  zone                     = local.zone
  total_ipv4_address_count = 256
  public_gateway           = ibm_is_public_gateway.this.id
  resource_group           = data.ibm_resource_group.this.id
  tags                     = local.tags
}

resource "ibm_container_vpc_cluster" "this" {
  name              = local.name
  vpc_id            = ibm_is_vpc.this.id
  flavor            = var.flavor
  worker_count      = var.node_count
  kube_version      = var.kubernetes_version == null ? null : trimprefix(var.kubernetes_version, "v")
  resource_group_id = data.ibm_resource_group.this.id
  worker_labels     = var.labels
  tags              = local.tags
  wait_till         = "OneWorkerNodeReady"

  zones {
    subnet_id = ibm_is_subnet.this.id
    name      = local.zone
  }

  lifecycle {
    precondition {
      condition     = var.arch == "amd64"
      error_message = "IBM Cloud Kubernetes Service on VPC has no ${var.arch} workers: use amd64."
    }
  }
}

# Admin certificates of the cluster, downloaded into this module's directory once it exists.
data "ibm_container_cluster_config" "this" {
  cluster_name_id   = ibm_container_vpc_cluster.this.id
  resource_group_id = data.ibm_resource_group.this.id
  admin             = true
  config_dir        = path.module
}
