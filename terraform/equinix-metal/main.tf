# The equinix-metal cloud (formerly Packet, the original cncf.ci's bare-metal cloud): one control-plane
# server and node_count workers, on-demand and billed hourly, made a kubeadm cluster by cloud-init
# (templates/kubeadm.yaml.tftpl).

locals {
  # Host names <name>-cp and <name>-<n> stay within 63 characters.
  name = (length(var.cluster_name) <= 58 ? var.cluster_name :
  "${trimsuffix(substr(var.cluster_name, 0, 49), "-")}-${substr(sha1(var.cluster_name), 0, 8)}")
  default_minor = "1.31"
  tags          = [for k, v in merge(var.labels, { "crosscloud-cluster" = var.cluster_name }) : "${k}=${v}"]
  project_id    = var.project_id != null ? var.project_id : equinix_metal_project.this[0].id
  plan          = lookup(var.plans, var.arch, null)
  api_server    = "${equinix_metal_device.control_plane.access_public_ipv4}:6443"
}

resource "equinix_metal_project" "this" {
  count = var.project_id == null ? 1 : 0
  name  = local.name
}

resource "equinix_metal_device" "control_plane" {
  hostname         = "${local.name}-cp"
  plan             = local.plan
  metro            = var.region
  operating_system = var.operating_system
  billing_cycle    = "hourly"
  project_id       = local.project_id
  tags             = local.tags
  user_data = templatefile("${path.module}/templates/kubeadm.yaml.tftpl", merge(local.cloud_init, {
    role   = "control-plane"
    ca_key = tls_private_key.ca.private_key_pem
  }))

  lifecycle {
    precondition {
      condition     = local.plan != null
      error_message = "No Equinix Metal plan for arch ${var.arch} in var.plans: use amd64 or arm64, or add a plan."
    }
  }
}

resource "equinix_metal_device" "worker" {
  count            = var.node_count
  hostname         = "${local.name}-${count.index}"
  plan             = local.plan
  metro            = var.region
  operating_system = var.operating_system
  billing_cycle    = "hourly"
  project_id       = local.project_id
  tags             = local.tags
  user_data = templatefile("${path.module}/templates/kubeadm.yaml.tftpl", merge(local.cloud_init, {
    api_server = local.api_server
  }))
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
