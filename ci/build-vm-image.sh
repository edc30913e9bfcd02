#!/usr/bin/env bash
# Build (or find, cached by recipe) the qemu backend's VM image for each kernel given
# (default 6.1): a debootstrap rootfs plus that Debian kernel, no registry, no loop mount.
# usage: ci/build-vm-image.sh [6.1|5.10|6.12 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then set -- 6.1; fi
args=()
for k in "$@"; do args+=(--kernel "$k"); done
exec node bin/labproof.js image build "${args[@]}"
