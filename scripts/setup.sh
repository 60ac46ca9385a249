#!/usr/bin/env bash
# Installs the Debian packages the project needs (when missing) and builds it into build/.
# Usage: scripts/setup.sh [BUILD_DIR] [extra cmake arguments...]
#        scripts/setup.sh --packages-only      (installs the missing packages, builds nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
packages_only=0
[ "${1:-}" = "--packages-only" ] && packages_only=1

mapfile -t packages < <(grep -v '^\s*#' scripts/packages.txt | grep -v '^\s*$')
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

((packages_only)) && exit 0

build=${1:-build}
shift || true
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUTHPOLICY_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
