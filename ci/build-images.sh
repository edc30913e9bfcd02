#!/usr/bin/env bash
# Build the docker backend's lab host images (default: bookworm) with labproof's own code:
# debootstrap -> docker import, no registry. Cached by recipe, so a second run takes a second.
# usage: ci/build-images.sh [--force] [bookworm|trixie|bullseye ...]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "build-images: installing debootstrap"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi

# Ryuk (testcontainers' reaper) needs an image from a registry; labproof reaps by label itself.
export TESTCONTAINERS_RYUK_DISABLED=true
args=()
for a in "$@"; do
  if [ "$a" = --force ]; then args+=(--force); else args+=(--distro "$a"); fi
done
# The package's own command: the compiled build when it is current, else the TypeScript (bin/labproof.js).
exec node bin/labproof.js image build "${args[@]}"
