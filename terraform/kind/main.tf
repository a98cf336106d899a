# The kind cloud: a Kubernetes cluster in containers on this machine (kind, "Kubernetes in Docker"), the
# natural default on GitHub-hosted runners, which have Docker. Built from terraform_data and local-exec
# calling the kind CLI, so it needs no provider. scripts/create.sh writes the kind configuration made here
# and creates the cluster with its kubeconfig in a file of this module's directory; scripts/destroy.sh
# deletes both.

locals {
  # kind names the control-plane container <name>-control-plane, a host name: 50 characters at most.
  name = (length(var.cluster_name) <= 50 ? var.cluster_name :
  "${trimsuffix(substr(var.cluster_name, 0, 41), "-")}-${substr(sha1(var.cluster_name), 0, 8)}")

  # Newest patch release per minor among the node images kind v0.24.0 published; a full version
  # (1.29.8) is used as it is.
  node_releases = {
    "1.31" = "1.31.0"
    "1.30" = "1.30.4"
    "1.29" = "1.29.8"
    "1.28" = "1.28.13"
    "1.27" = "1.27.16"
    "1.26" = "1.26.15"
    "1.25" = "1.25.16"
  }
  requested = trimprefix(coalesce(var.kubernetes_version, "1.31"), "v")
  release   = length(split(".", local.requested)) == 3 ? local.requested : lookup(local.node_releases, local.requested, null)
  image     = var.node_image != null ? var.node_image : (local.release == null ? null : "kindest/node:v${local.release}")
  # The version actually run: what the image's tag says when node_image was given.
  version = (var.node_image == null ? (local.release == null ? null : "v${local.release}") :
  try(regex("v[0-9]+[.][0-9]+[.][0-9]+", var.node_image), var.kubernetes_version))

  state_dir       = "${abspath(path.module)}/.kind"
  config_file     = "${local.state_dir}/${local.name}.yaml"
  kubeconfig_file = "${local.state_dir}/${local.name}.kubeconfig"

  # https://kind.sigs.k8s.io/docs/user/configuration/ (node labels need kind v0.20 or newer).
  kind_config = {
    kind       = "Cluster"
    apiVersion = "kind.x-k8s.io/v1alpha4"
    name       = local.name
    nodes = concat(
      [{ role = "control-plane", labels = var.labels }],
      [for _ in range(var.node_count) : { role = "worker", labels = var.labels }],
    )
  }
}

resource "terraform_data" "cluster" {
  # Any change (node count, image, labels) makes a new cluster: kind cannot change one in place.
  triggers_replace = {
    config = yamlencode(local.kind_config)
    image  = local.image
  }

  input = {
    name            = local.name
    image           = local.image
    arch            = var.arch
    config          = yamlencode(local.kind_config)
    config_file     = local.config_file
    kubeconfig_file = local.kubeconfig_file
    wait            = "${var.wait_seconds}s"
    scripts         = "${abspath(path.module)}/scripts"
  }

  lifecycle {
    precondition {
      condition     = local.image != null
      error_message = "kubernetes_version ${coalesce(var.kubernetes_version, "null")}: no kindest/node image known for that minor; give a full version (1.29.8) or node_image."
    }
  }

  provisioner "local-exec" {
    interpreter = ["/bin/sh"]
    command     = "${self.input.scripts}/create.sh"
    environment = {
      KIND_CLUSTER     = self.input.name
      KIND_IMAGE       = self.input.image
      KIND_ARCH        = self.input.arch
      KIND_CONFIG      = self.input.config
      KIND_CONFIG_FILE = self.input.config_file
      KIND_KUBECONFIG  = self.input.kubeconfig_file
      KIND_WAIT        = self.input.wait
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh"]
    command     = "${self.output.scripts}/destroy.sh"
    environment = {
      KIND_CLUSTER     = self.output.name
      KIND_CONFIG_FILE = self.output.config_file
      KIND_KUBECONFIG  = self.output.kubeconfig_file
    }
  }
}

locals {
  # Read once the cluster exists: terraform_data.cluster.output is unknown until then, so the outputs
  # are evaluated after the create step wrote the file.
  kubeconfig = (terraform_data.cluster.output == null ? null :
  fileexists(terraform_data.cluster.output.kubeconfig_file) ? file(terraform_data.cluster.output.kubeconfig_file) : null)
}
