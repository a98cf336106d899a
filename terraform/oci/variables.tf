# The inputs every module under terraform/ takes (the contract is in terraform/README.md), then this cloud's own.

variable "cluster_name" {
  type        = string
  description = "Name of the environment; unique per matrix cell (project, release, cloud, run)."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.cluster_name))
    error_message = "cluster_name must be 1-63 lower-case letters, digits or '-', starting with a letter or digit."
  }
}

variable "kubernetes_version" {
  type        = string
  default     = null
  description = "Kubernetes release to run, like v1.30.4 or 1.30; null for the cloud's default. OKE takes a full version it offers (v1.30.1); a minor means the newest it offers of it; null: the newest."
  validation {
    condition     = var.kubernetes_version == null || can(regex("^v?[0-9]+[.][0-9]+([.][0-9]+)?$", var.kubernetes_version))
    error_message = "kubernetes_version must be a Kubernetes release like v1.30.4 or 1.30 (a branch such as master cannot be provisioned)."
  }
}

variable "node_count" {
  type        = number
  default     = 1
  description = "Worker nodes. Size of the node pool."
  validation {
    condition     = var.node_count >= 1 && var.node_count <= 100 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 100."
  }
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "CPU architecture of the nodes: amd64, arm64, ppc64le or s390x. OKE offers amd64 (E4 Flex) and arm64 (Ampere A1 Flex)."
  validation {
    condition     = contains(["amd64", "arm64", "ppc64le", "s390x"], var.arch)
    error_message = "arch must be one of amd64, arm64, ppc64le, s390x."
  }
}

variable "region" {
  type        = string
  default     = "us-ashburn-1"
  description = "Region or zone. An OCI region; nodes go to its first availability domain."
  validation {
    condition     = trimspace(var.region) != ""
    error_message = "region must not be empty."
  }
}

variable "labels" {
  type        = map(string)
  default     = {}
  description = "Labels (tags) put on everything the module creates."
  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "labels: keys must match ^[a-z][a-z0-9_-]{0,62}$ and values ^[a-z0-9_-]{0,63}$ (valid as tags and labels on every cloud and in Kubernetes)."
  }
}

variable "tenancy_ocid" {
  type        = string
  default     = null
  description = "OCID of the tenancy. Not a secret: an identifier, which terraform reads from TF_VAR_tenancy_ocid, the variable the oci provider also reads."
}

variable "compartment_id" {
  type        = string
  default     = null
  description = "OCID of the compartment to create everything in; null: the tenancy's root compartment."
}

variable "ocpus" {
  type        = number
  default     = 2
  description = "OCPUs of each node (Flex shapes); memory is 8 GB per OCPU."
}
