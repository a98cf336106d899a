#!/bin/sh
# Creates the cluster of terraform/kind. main.tf hands everything over in KIND_* environment variables
# (never spliced into a command line), so no value needs quoting.
set -eu
umask 077 # the kubeconfig holds the cluster's admin key

case "$(uname -m)" in
x86_64 | amd64) host_arch=amd64 ;;
aarch64 | arm64) host_arch=arm64 ;;
*) host_arch="$(uname -m)" ;;
esac
if [ "$host_arch" != "$KIND_ARCH" ]; then
	echo "kind runs its nodes on this machine's CPU ($host_arch): arch '$KIND_ARCH' needs a $KIND_ARCH machine" >&2
	exit 1
fi
if ! command -v kind >/dev/null 2>&1; then
	echo "kind is not installed (not found on PATH)" >&2
	exit 127
fi

mkdir -p "$(dirname "$KIND_CONFIG_FILE")" "$(dirname "$KIND_KUBECONFIG")"
printf '%s' "$KIND_CONFIG" >"$KIND_CONFIG_FILE"
# --kubeconfig: the credentials go to this module's file, never into the user's ~/.kube/config.
# On failure kind deletes what it made (no --retain).
exec kind create cluster --name "$KIND_CLUSTER" --config "$KIND_CONFIG_FILE" --image "$KIND_IMAGE" \
	--kubeconfig "$KIND_KUBECONFIG" --wait "$KIND_WAIT"
