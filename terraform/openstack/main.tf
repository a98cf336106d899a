# The openstack cloud: a network, subnet and router of the cluster's own, one control-plane instance with
# a floating IP for the API server and node_count workers, made a kubeadm cluster by cloud-init
# (templates/kubeadm.yaml.tftpl). Works on any OpenStack with Neutron and an Ubuntu cloud image.

locals {
  name = (length(var.cluster_name) <= 58 ? var.cluster_name :
  "${trimsuffix(substr(var.cluster_name, 0, 49), "-")}-${substr(sha1(var.cluster_name), 0, 8)}")
  default_minor = "1.31"
  tags          = [for k, v in merge(var.labels, { "crosscloud-cluster" = var.cluster_name }) : "${k}=${v}"]
  image         = lookup(var.images, var.arch, null)
  flavor        = lookup(var.flavors, var.arch, null)
  api_server    = "${openstack_networking_floatingip_v2.api.address}:6443"
}

data "openstack_networking_network_v2" "external" {
  name     = var.external_network
  external = true
}

resource "openstack_networking_network_v2" "this" {
  name           = local.name
  admin_state_up = true
  tags           = local.tags
}

resource "openstack_networking_subnet_v2" "this" {
  name            = local.name
  network_id      = openstack_networking_network_v2.this.id
  cidr            = "10.42.0.0/24"
  ip_version      = 4
  dns_nameservers = var.dns_nameservers
  tags            = local.tags
}

resource "openstack_networking_router_v2" "this" {
  name                = local.name
  external_network_id = data.openstack_networking_network_v2.external.id
  tags                = local.tags
}

resource "openstack_networking_router_interface_v2" "this" {
  router_id = openstack_networking_router_v2.this.id
  subnet_id = openstack_networking_subnet_v2.this.id
}

resource "openstack_networking_secgroup_v2" "this" {
  name        = local.name
  description = "Cross-Cloud CI cluster ${var.cluster_name}: the API server from anywhere, everything between nodes."
  tags        = local.tags
}

resource "openstack_networking_secgroup_rule_v2" "api" {
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 6443
  port_range_max    = 6443
  remote_ip_prefix  = "0.0.0.0/0"
  security_group_id = openstack_networking_secgroup_v2.this.id
}

resource "openstack_networking_secgroup_rule_v2" "nodes" {
  direction         = "ingress"
  ethertype         = "IPv4"
  remote_group_id   = openstack_networking_secgroup_v2.this.id
  security_group_id = openstack_networking_secgroup_v2.this.id
}

resource "openstack_networking_port_v2" "control_plane" {
  name               = "${local.name}-cp"
  network_id         = openstack_networking_network_v2.this.id
  security_group_ids = [openstack_networking_secgroup_v2.this.id]
  tags               = local.tags
  fixed_ip {
    subnet_id = openstack_networking_subnet_v2.this.id
  }
}

# Allocated before the instance, so the API server's certificate can name it.
resource "openstack_networking_floatingip_v2" "api" {
  pool = var.external_network
  tags = local.tags
}

resource "openstack_networking_floatingip_associate_v2" "api" {
  floating_ip = openstack_networking_floatingip_v2.api.address
  port_id     = openstack_networking_port_v2.control_plane.id
  depends_on  = [openstack_networking_router_interface_v2.this]
}

resource "openstack_compute_instance_v2" "control_plane" {
  name        = "${local.name}-cp"
  image_name  = local.image
  flavor_name = local.flavor
  tags        = local.tags
  metadata    = var.labels
  user_data = templatefile("${path.module}/templates/kubeadm.yaml.tftpl", merge(local.cloud_init, {
    role      = "control-plane"
    ca_key    = tls_private_key.ca.private_key_pem
    cert_sans = [openstack_networking_floatingip_v2.api.address]
  }))

  network {
    port = openstack_networking_port_v2.control_plane.id
  }

  lifecycle {
    precondition {
      condition     = local.image != null && local.flavor != null
      error_message = "No image or flavor for arch ${var.arch} in var.images / var.flavors."
    }
  }
}

resource "openstack_compute_instance_v2" "worker" {
  count           = var.node_count
  name            = "${local.name}-${count.index}"
  image_name      = local.image
  flavor_name     = local.flavor
  security_groups = [openstack_networking_secgroup_v2.this.name]
  tags            = local.tags
  metadata        = var.labels
  user_data = templatefile("${path.module}/templates/kubeadm.yaml.tftpl", merge(local.cloud_init, {
    # Workers join over the private network: the control plane's own address is in its certificate.
    api_server = "${openstack_networking_port_v2.control_plane.all_fixed_ips[0]}:6443"
  }))

  network {
    uuid = openstack_networking_network_v2.this.id
  }

  depends_on = [openstack_networking_router_interface_v2.this]
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
