# The vsphere cloud: one control-plane VM and node_count worker VMs cloned from a template, made a kubeadm
# cluster by cloud-init (templates/kubeadm.yaml.tftpl) handed over through VMware guestinfo. Labels become
# vSphere tags in a tag category of the cluster's own.

locals {
  name = (length(var.cluster_name) <= 58 ? var.cluster_name :
  "${trimsuffix(substr(var.cluster_name, 0, 49), "-")}-${substr(sha1(var.cluster_name), 0, 8)}")
  default_minor = "1.31"
  template      = lookup(var.templates, var.arch, null)
  api_server    = "${vsphere_virtual_machine.control_plane.default_ip_address}:6443"
}

data "vsphere_datacenter" "this" {
  name = var.region
}

data "vsphere_compute_cluster" "this" {
  name          = var.compute_cluster
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_datastore" "this" {
  name          = var.datastore
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_network" "this" {
  name          = var.network
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_virtual_machine" "template" {
  name          = coalesce(local.template, "none")
  datacenter_id = data.vsphere_datacenter.this.id
}

resource "vsphere_tag_category" "this" {
  name             = "crosscloud-${local.name}"
  cardinality      = "MULTIPLE"
  associable_types = ["VirtualMachine"]
}

resource "vsphere_tag" "label" {
  for_each    = merge(var.labels, { "crosscloud-cluster" = var.cluster_name })
  name        = "${each.key}=${each.value}"
  category_id = vsphere_tag_category.this.id
}

resource "vsphere_virtual_machine" "control_plane" {
  name             = "${local.name}-cp"
  folder           = var.folder
  resource_pool_id = data.vsphere_compute_cluster.this.resource_pool_id
  datastore_id     = data.vsphere_datastore.this.id
  num_cpus         = 2
  memory           = 4096
  guest_id         = data.vsphere_virtual_machine.template.guest_id
  firmware         = data.vsphere_virtual_machine.template.firmware
  tags             = [for t in vsphere_tag.label : t.id]

  network_interface {
    network_id   = data.vsphere_network.this.id
    adapter_type = data.vsphere_virtual_machine.template.network_interface_types[0]
  }

  disk {
    label            = "disk0"
    size             = max(data.vsphere_virtual_machine.template.disks[0].size, 40)
    thin_provisioned = true
  }

  clone {
    template_uuid = data.vsphere_virtual_machine.template.id
  }

  extra_config = {
    "guestinfo.metadata"          = base64encode(jsonencode({ "local-hostname" = "${local.name}-cp" }))
    "guestinfo.metadata.encoding" = "base64"
    "guestinfo.userdata" = base64encode(templatefile("${path.module}/templates/kubeadm.yaml.tftpl", merge(local.cloud_init, {
      role   = "control-plane"
      ca_key = tls_private_key.ca.private_key_pem
    })))
    "guestinfo.userdata.encoding" = "base64"
  }

  lifecycle {
    precondition {
      condition     = local.template != null
      error_message = "No VM template for arch ${var.arch} in var.templates."
    }
  }
}

resource "vsphere_virtual_machine" "worker" {
  count            = var.node_count
  name             = "${local.name}-${count.index}"
  folder           = var.folder
  resource_pool_id = data.vsphere_compute_cluster.this.resource_pool_id
  datastore_id     = data.vsphere_datastore.this.id
  num_cpus         = 2
  memory           = 4096
  guest_id         = data.vsphere_virtual_machine.template.guest_id
  firmware         = data.vsphere_virtual_machine.template.firmware
  tags             = [for t in vsphere_tag.label : t.id]

  network_interface {
    network_id   = data.vsphere_network.this.id
    adapter_type = data.vsphere_virtual_machine.template.network_interface_types[0]
  }

  disk {
    label            = "disk0"
    size             = max(data.vsphere_virtual_machine.template.disks[0].size, 40)
    thin_provisioned = true
  }

  clone {
    template_uuid = data.vsphere_virtual_machine.template.id
  }

  extra_config = {
    "guestinfo.metadata"          = base64encode(jsonencode({ "local-hostname" = "${local.name}-${count.index}" }))
    "guestinfo.metadata.encoding" = "base64"
    "guestinfo.userdata" = base64encode(templatefile("${path.module}/templates/kubeadm.yaml.tftpl", merge(local.cloud_init, {
      api_server = local.api_server
    })))
    "guestinfo.userdata.encoding" = "base64"
  }
}

# -- kubeadm: the cluster's CA and bootstrap token (see templates/kubeadm.yaml.tftpl) ---------------------

resource "tls_private_key" "ca" {
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem       = tls_private_key.ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 24 * 7
  allowed_uses          = ["cert_signing", "key_encipherment", "digital_signature"]
  subject {
    common_name = "kubernetes"
  }
}

resource "random_string" "token_id" {
  length  = 6
  upper   = false
  special = false
}

resource "random_string" "token_secret" {
  length  = 16
  upper   = false
  special = false
}

locals {
  kubeadm_token = "${random_string.token_id.result}.${random_string.token_secret.result}"
  # kubeadm takes a full version (v1.30.4) or resolves the newest patch of a minor (stable-1.30).
  requested        = trimprefix(coalesce(var.kubernetes_version, local.default_minor), "v")
  kubernetes_minor = join(".", slice(split(".", local.requested), 0, 2))
  kubeadm_version  = length(split(".", local.requested)) == 3 ? "v${local.requested}" : "stable-${local.requested}"
  node_labels      = join(",", [for k, v in var.labels : "crosscloud.ci/${k}=${v}"])
  cloud_init = {
    role               = "worker"
    cluster_name       = local.name
    kubernetes_minor   = local.kubernetes_minor
    kubernetes_version = local.kubeadm_version
    ca_cert            = tls_self_signed_cert.ca.cert_pem
    ca_key             = ""
    token              = local.kubeadm_token
    node_labels        = local.node_labels
    cert_sans          = []
    api_server         = ""
  }
}

# The node's cloud-init needs minutes: the environment is ready when the API server answers.
resource "terraform_data" "api_ready" {
  input = local.api_server

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = <<-EOT
      set -eu
      ca="$(mktemp)"
      trap 'rm -f "$ca"' EXIT
      printf '%s' "$CA_CERT" >"$ca"
      deadline=$(($(date +%s) + 1200))
      until curl -fsS --cacert "$ca" "https://$API_SERVER/readyz" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
          echo "the API server at $API_SERVER did not become ready within 20 minutes" >&2
          exit 1
        fi
        sleep 10
      done
    EOT
    environment = {
      CA_CERT    = tls_self_signed_cert.ca.cert_pem
      API_SERVER = local.api_server
    }
  }
}
