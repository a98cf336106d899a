# The inputs every module under terraform/ takes (the contract is in terraform/README.md), then this cloud's own.

variable "cluster_name" {
  type        = string
  description = "Name of the environment; unique per matrix cell (project, release, cloud, run). Longer than EKS node group names allow (63 with suffix) it is shortened with a hash."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.cluster_name))
    error_message = "cluster_name must be 1-63 lower-case letters, digits or '-', starting with a letter or digit."
  }
}

variable "kubernetes_version" {
  type        = string
  default     = null
  description = "Kubernetes release to run, like v1.30.4 or 1.30; null for the cloud's default. EKS takes the minor (1.30): a patch is dropped."
  validation {
    condition     = var.kubernetes_version == null || can(regex("^v?[0-9]+[.][0-9]+([.][0-9]+)?$", var.kubernetes_version))
    error_message = "kubernetes_version must be a Kubernetes release like v1.30.4 or 1.30 (a branch such as master cannot be provisioned)."
  }
}

variable "node_count" {
  type        = number
  default     = 1
  description = "Worker nodes. The managed node group is fixed at this size."
  validation {
    condition     = var.node_count >= 1 && var.node_count <= 100 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 100."
  }
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "CPU architecture of the nodes: amd64, arm64, ppc64le or s390x. EKS offers amd64 and arm64 (Graviton)."
  validation {
    condition     = contains(["amd64", "arm64", "ppc64le", "s390x"], var.arch)
    error_message = "arch must be one of amd64, arm64, ppc64le, s390x."
  }
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region or zone. An AWS region; the VPC spans its first two availability zones."
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

variable "instance_type" {
  type        = string
  default     = null
  description = "EC2 instance type of the nodes; null picks by arch: m6i.large (amd64) or m7g.large (arm64, Graviton3)."
}

variable "vpc_cidr" {
  type        = string
  default     = "10.42.0.0/16"
  description = "Address range of the cluster's VPC; each of its two public subnets takes a /20 of it."
}
