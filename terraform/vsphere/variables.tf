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
  description = "Kubernetes release to run, like v1.30.4 or 1.30; null for the cloud's default. kubeadm installs it from pkgs.k8s.io; a minor means its newest patch; null: 1.31."
  validation {
    condition     = var.kubernetes_version == null || can(regex("^v?[0-9]+[.][0-9]+([.][0-9]+)?$", var.kubernetes_version))
    error_message = "kubernetes_version must be a Kubernetes release like v1.30.4 or 1.30 (a branch such as master cannot be provisioned)."
  }
}

variable "node_count" {
  type        = number
  default     = 1
  description = "Worker nodes. Worker VMs, plus one control-plane VM."
  validation {
    condition     = var.node_count >= 1 && var.node_count <= 100 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 100."
  }
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "CPU architecture of the nodes: amd64, arm64, ppc64le or s390x. Picks the template from var.templates (vSphere runs amd64)."
  validation {
    condition     = contains(["amd64", "arm64", "ppc64le", "s390x"], var.arch)
    error_message = "arch must be one of amd64, arm64, ppc64le, s390x."
  }
}

variable "region" {
  type        = string
  default     = "Datacenter"
  description = "Region or zone. The vSphere datacenter."
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

variable "compute_cluster" {
  type        = string
  default     = "Cluster"
  description = "vSphere compute cluster whose root resource pool runs the VMs."
}

variable "datastore" {
  type        = string
  default     = "datastore1"
  description = "Datastore of the VMs' disks."
}

variable "network" {
  type        = string
  default     = "VM Network"
  description = "Port group the VMs attach to; it must hand out addresses by DHCP and reach the internet."
}

variable "templates" {
  type        = map(string)
  default     = { amd64 = "ubuntu-22.04-cloudimg" }
  description = "VM template per arch: an Ubuntu cloud image with cloud-init's VMware guestinfo datasource. An arch without one is refused."
}

variable "folder" {
  type        = string
  default     = null
  description = "VM folder (relative to the datacenter) to put the VMs in; null: the datacenter's root."
}
