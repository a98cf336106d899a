# The aws cloud: an EKS cluster with one managed node group in a VPC of its own (two public subnets in
# two availability zones, as EKS requires). Nodes get public addresses, so no NAT gateway is paid for.

locals {
  name = (length(var.cluster_name) <= 54 ? var.cluster_name :
  "${trimsuffix(substr(var.cluster_name, 0, 45), "-")}-${substr(sha1(var.cluster_name), 0, 8)}")
  tags = merge(var.labels, { "crosscloud-cluster" = var.cluster_name })

  minor = var.kubernetes_version == null ? null : join(".", slice(split(".", trimprefix(var.kubernetes_version, "v")), 0, 2))
  instance_types = {
    amd64 = "m6i.large"
    arm64 = "m7g.large" # Graviton3
  }
  ami_types = {
    amd64 = "AL2023_x86_64_STANDARD"
    arm64 = "AL2023_ARM_64_STANDARD"
  }
}

data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  enable_dns_support   = true
  tags                 = { Name = local.name }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = local.name }
}

resource "aws_subnet" "public" {
  count                   = 2
  vpc_id                  = aws_vpc.this.id
  availability_zone       = data.aws_availability_zones.available.names[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = true
  tags = {
    Name                                  = "${local.name}-${count.index}"
    "kubernetes.io/cluster/${local.name}" = "shared"
    "kubernetes.io/role/elb"              = "1"
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
  tags = { Name = local.name }
}

resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

data "aws_iam_policy_document" "assume" {
  for_each = { cluster = "eks.amazonaws.com", nodes = "ec2.amazonaws.com" }
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name_prefix        = "ccci-cluster-"
  assume_role_policy = data.aws_iam_policy_document.assume["cluster"].json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_iam_role" "nodes" {
  name_prefix        = "ccci-nodes-"
  assume_role_policy = data.aws_iam_policy_document.assume["nodes"].json
}

resource "aws_iam_role_policy_attachment" "nodes" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
  ])
  role       = aws_iam_role.nodes.name
  policy_arn = each.value
}

resource "aws_eks_cluster" "this" {
  name     = local.name
  role_arn = aws_iam_role.cluster.arn
  version  = local.minor

  vpc_config {
    subnet_ids              = aws_subnet.public[*].id
    endpoint_public_access  = true
    endpoint_private_access = true
  }

  # Whoever applies (the CI job's identity) administers the cluster through an access entry: the
  # kubeconfig below authenticates as that identity with `aws eks get-token`.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  depends_on = [aws_iam_role_policy_attachment.cluster]

  lifecycle {
    precondition {
      condition     = contains(keys(local.ami_types), var.arch)
      error_message = "EKS has no ${var.arch} nodes: use amd64 or arm64."
    }
  }
}

resource "aws_eks_node_group" "this" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "${local.name}-nodes"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = aws_subnet.public[*].id
  ami_type        = local.ami_types[var.arch]
  instance_types  = [coalesce(var.instance_type, local.instance_types[var.arch])]
  labels          = var.labels

  scaling_config {
    desired_size = var.node_count
    min_size     = var.node_count
    max_size     = var.node_count
  }

  depends_on = [aws_iam_role_policy_attachment.nodes, aws_route_table_association.public]
}
