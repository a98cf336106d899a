#!/bin/sh
# Deletes the cluster of terraform/kind (deleting a cluster that is already gone succeeds).
set -eu
if ! command -v kind >/dev/null 2>&1; then
	echo "kind is not installed (not found on PATH): cannot delete cluster $KIND_CLUSTER" >&2
	exit 127
fi
kind delete cluster --name "$KIND_CLUSTER" --kubeconfig "$KIND_KUBECONFIG"
rm -f "$KIND_CONFIG_FILE" "$KIND_KUBECONFIG"
