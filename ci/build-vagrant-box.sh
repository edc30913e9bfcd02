#!/usr/bin/env bash
# Build (or find, cached by recipe) the Vagrant box labproof uses with the libvirt provider when
# LABPROOF_VAGRANT_BOX names none: the qemu backend's Debian bookworm image (built first if
# needed) as a libvirt box with its kernel and initramfs. No Vagrant Cloud, no loop mount.
# usage: ci/build-vagrant-box.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bin/labproof.js image build --vagrant-box
