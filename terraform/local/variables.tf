# The inputs every module under terraform/ takes (see terraform/README.md), and the local cloud's own.

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
  description = "Kubernetes version to run. The local cloud runs projects on the host, so it is ignored here."
}

variable "node_count" {
  type        = number
  default     = 1
  description = "Worker nodes. The local cloud has exactly one: the host."
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "CPU architecture of the nodes: amd64, arm64, ppc64le or s390x."
  validation {
    condition     = contains(["amd64", "arm64", "ppc64le", "s390x"], var.arch)
    error_message = "arch must be one of amd64, arm64, ppc64le, s390x."
  }
}

variable "region" {
  type        = string
  default     = "localhost"
  description = "Region or zone. The local cloud has one: localhost."
}

variable "labels" {
  type        = map(string)
  default     = {}
  description = "Labels (tags) put on everything the module creates."
}

variable "sandbox_root" {
  type        = string
  description = "Absolute directory under which the sandbox directory <sandbox_root>/<cluster_name> is made."
  validation {
    condition     = can(regex("^/.+", var.sandbox_root)) && !can(regex("(^|/)\\.\\.(/|$)", var.sandbox_root))
    error_message = "sandbox_root must be an absolute path without '..' segments, and not '/'."
  }
}
