#!/usr/bin/env bash
# Write .terraform.lock.hcl of every module under terraform/ that uses providers (or of the modules named),
# with the hashes of each provider for every platform the provision stage runs on, then check that
# `terraform init` installs from that lock unchanged (-lockfile=readonly). Needs the Terraform registry,
# so it runs in the terraform-locks job of .github/workflows/kubernetes-self-test.yml; how to commit what it
# writes: terraform/README.md, "Provider lock files".
#
#   scripts/terraform-locks.sh [--output DIR] [MODULE_DIR...]
#
# --output DIR   also copy each lock file to DIR/<module dir>/.terraform.lock.hcl (the job's artifact)
# Exit status: 0 when every lock file was already there as terraform writes it, 1 when one is new or changed
# (each is named), 2 on bad usage. TF_LOCK_FS_MIRROR=DIR locks from a filesystem mirror instead of the
# registry (for a machine without it; init then needs a CLI configuration that installs from DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

PLATFORMS=(linux_amd64 linux_arm64 darwin_amd64 darwin_arm64)
output=""
modules=()
while (($#)); do
	case $1 in
	--output)
		[[ $# -ge 2 ]] || { echo "terraform-locks: --output needs a directory" >&2; exit 2; }
		output=$2
		shift 2
		;;
	-*)
		echo "terraform-locks: unknown option $1 (usage: $0 [--output DIR] [MODULE_DIR...])" >&2
		exit 2
		;;
	*)
		modules+=("${1%/}")
		shift
		;;
	esac
done
if ((${#modules[@]} == 0)); then
	for versions in terraform/*/versions.tf; do
		grep -q required_providers "$versions" && modules+=("$(dirname "$versions")")
	done
fi

lock_args=()
for platform in "${PLATFORMS[@]}"; do lock_args+=("-platform=$platform"); done
if [[ -n ${TF_LOCK_FS_MIRROR:-} ]]; then lock_args+=("-fs-mirror=$TF_LOCK_FS_MIRROR"); fi

export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
changed=()
for module in "${modules[@]}"; do
	if [[ ! -f $module/versions.tf ]] || ! grep -q required_providers "$module/versions.tf"; then
		echo "terraform-locks: $module is not a module with providers (no required_providers in versions.tf)" >&2
		exit 2
	fi
	lock="$module/.terraform.lock.hcl"
	before=""
	[[ -f $lock ]] && before=$(<"$lock")
	echo "== $module"
	terraform -chdir="$module" providers lock -no-color "${lock_args[@]}"
	terraform -chdir="$module" init -no-color -backend=false -input=false -lockfile=readonly >/dev/null
	rm -rf "$module/.terraform"
	if [[ -n $output ]]; then
		mkdir -p "$output/$module"
		cp "$lock" "$output/$module/.terraform.lock.hcl"
	fi
	if [[ $(<"$lock") != "$before" ]]; then
		changed+=("$lock")
	fi
done

if ((${#changed[@]})); then
	for lock in "${changed[@]}"; do
		echo "::error file=$lock::$lock is new or changed: commit it as written (terraform/README.md, Provider lock files)"
	done
	exit 1
fi
echo "terraform-locks: the ${#modules[@]} lock files were already as terraform writes them"
