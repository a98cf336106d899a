# The local cloud: a sandbox directory on the host where the deploy stage runs the project's processes.
# Destroying it removes the directory and everything the processes left in it.

locals {
  sandbox = "${trimsuffix(var.sandbox_root, "/")}/${var.cluster_name}"
}

resource "terraform_data" "sandbox" {
  input = {
    path   = local.sandbox
    labels = var.labels
  }

  # interpreter + command run the program directly: no shell, so no quoting of the path is needed.
  provisioner "local-exec" {
    interpreter = ["mkdir", "-p"]
    command     = self.input.path
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["rm", "-rf", "--"]
    command     = self.output.path
  }
}
