# The oci cloud: an OKE (Container Engine for Kubernetes) cluster with a public API endpoint in a VCN of
# its own, and one node pool of Flex shapes: E4 (AMD) for amd64, A1 (Ampere Altra) for arm64.

locals {
  name           = var.cluster_name
  tags           = merge(var.labels, { "crosscloud-cluster" = var.cluster_name })
  compartment_id = coalesce(var.compartment_id, var.tenancy_ocid, "unset")

  shapes = {
    amd64 = "VM.Standard.E4.Flex"
    arm64 = "VM.Standard.A1.Flex" # Ampere Altra
  }
  offered   = data.oci_containerengine_cluster_option.this.kubernetes_versions
  requested = var.kubernetes_version == null ? null : "v${trimprefix(var.kubernetes_version, "v")}"
  version = (local.requested == null ? local.offered[length(local.offered) - 1] :
    length(split(".", local.requested)) == 3 ? local.requested :
  try([for v in reverse(local.offered) : v if startswith(v, "${local.requested}.")][0], local.requested))

  # OKE node images are named like Oracle-Linux-8.10-aarch64-2024.09.30-0-OKE-1.30.1-745.
  images = [
    for s in data.oci_containerengine_node_pool_option.this.sources : s.image_id
    if strcontains(s.source_name, "OKE-${trimprefix(local.version, "v")}-") && !strcontains(s.source_name, "GPU") &&
    strcontains(s.source_name, "aarch64") == (var.arch == "arm64")
  ]
}

data "oci_containerengine_cluster_option" "this" {
  cluster_option_id = "all"
  compartment_id    = local.compartment_id
}

data "oci_containerengine_node_pool_option" "this" {
  node_pool_option_id = "all"
  compartment_id      = local.compartment_id
}

data "oci_identity_availability_domains" "this" {
  compartment_id = local.compartment_id
}

resource "oci_core_vcn" "this" {
  compartment_id = local.compartment_id
  display_name   = local.name
  cidr_blocks    = ["10.42.0.0/16"]
  freeform_tags  = local.tags
}

resource "oci_core_internet_gateway" "this" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.this.id
  display_name   = local.name
  freeform_tags  = local.tags
}

resource "oci_core_route_table" "this" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.this.id
  display_name   = local.name
  freeform_tags  = local.tags
  route_rules {
    destination       = "0.0.0.0/0"
    network_entity_id = oci_core_internet_gateway.this.id
  }
}

resource "oci_core_security_list" "this" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.this.id
  display_name   = local.name
  freeform_tags  = local.tags
  egress_security_rules {
    destination = "0.0.0.0/0"
    protocol    = "all"
  }
  ingress_security_rules {
    source   = "10.42.0.0/16"
    protocol = "all"
  }
  ingress_security_rules {
    source   = "0.0.0.0/0"
    protocol = "6" # TCP: the API server
    tcp_options {
      min = 6443
      max = 6443
    }
  }
}

resource "oci_core_subnet" "this" {
  for_each          = { api = "10.42.0.0/24", nodes = "10.42.1.0/24", lb = "10.42.2.0/24" }
  compartment_id    = local.compartment_id
  vcn_id            = oci_core_vcn.this.id
  display_name      = "${local.name}-${each.key}"
  cidr_block        = each.value
  route_table_id    = oci_core_route_table.this.id
  security_list_ids = [oci_core_security_list.this.id]
  freeform_tags     = local.tags
}

resource "oci_containerengine_cluster" "this" {
  compartment_id     = local.compartment_id
  name               = local.name
  kubernetes_version = local.version
  vcn_id             = oci_core_vcn.this.id
  freeform_tags      = local.tags

  endpoint_config {
    is_public_ip_enabled = true
    subnet_id            = oci_core_subnet.this["api"].id
  }

  options {
    service_lb_subnet_ids = [oci_core_subnet.this["lb"].id]
  }

  lifecycle {
    precondition {
      condition     = local.compartment_id != "unset"
      error_message = "Set TF_VAR_tenancy_ocid (as for the oci provider) or compartment_id."
    }
    precondition {
      condition     = contains(local.offered, local.version)
      error_message = "OKE does not offer Kubernetes ${local.version} in ${var.region}; it offers ${join(", ", local.offered)}."
    }
  }
}

resource "oci_containerengine_node_pool" "this" {
  compartment_id     = local.compartment_id
  cluster_id         = oci_containerengine_cluster.this.id
  name               = "${local.name}-nodes"
  kubernetes_version = local.version
  node_shape         = lookup(local.shapes, var.arch, "none")
  freeform_tags      = local.tags

  node_shape_config {
    ocpus         = var.ocpus
    memory_in_gbs = var.ocpus * 8
  }

  node_config_details {
    size          = var.node_count
    freeform_tags = local.tags
    placement_configs {
      availability_domain = data.oci_identity_availability_domains.this.availability_domains[0].name
      subnet_id           = oci_core_subnet.this["nodes"].id
    }
  }

  node_source_details {
    source_type = "IMAGE"
    image_id    = try(local.images[0], "none")
  }

  dynamic "initial_node_labels" {
    for_each = var.labels
    content {
      key   = initial_node_labels.key
      value = initial_node_labels.value
    }
  }

  lifecycle {
    precondition {
      condition     = contains(keys(local.shapes), var.arch)
      error_message = "OKE has no ${var.arch} nodes: use amd64 or arm64."
    }
    precondition {
      condition     = length(local.images) > 0
      error_message = "No OKE node image for Kubernetes ${local.version} on ${var.arch} in ${var.region}."
    }
  }
}

# A kubeconfig whose user runs `oci ce cluster generate-token` (the OCI CLI, with the same credentials).
data "oci_containerengine_cluster_kube_config" "this" {
  cluster_id    = oci_containerengine_cluster.this.id
  token_version = "2.0.0"
  endpoint      = "PUBLIC_ENDPOINT"
}
