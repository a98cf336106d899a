#!/usr/bin/env bash
# Installs the system packages `make run` / `make test` need, on Debian or Ubuntu, when they are missing.
# Usage: scripts/system-deps.sh run|test
# Elsewhere (or without root) it says what is missing and how to get it, and fails.
set -euo pipefail
want=${1:-run}
python=${PYTHON:-python3}

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
# Debian ships venv's pip bootstrap separately (python3.X-venv).
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=("python3-venv")
fi
if [[ $want == test ]]; then
  : # later stages add their test tools here
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
