#!/usr/bin/env bash
# Everything labproof needs on a fresh Debian/Ubuntu machine, as root: the lab tools, the npm
# dependencies, and (with --docker / --vm / --vagrant) a Docker engine with the host image, qemu
# with the VM image, and vagrant with libvirt and labproof's local box. Idempotent: run it again
# and it only checks.
#
#   ci/setup.sh            netns backend only (what `npx labproof run` uses by default)
#   ci/setup.sh --docker   also a Docker engine and the host image
#   ci/setup.sh --vm       also qemu and the VM image
#   ci/setup.sh --vagrant  also vagrant, vagrant-libvirt and libvirt (started here without
#                          systemd), and labproof's local Vagrant box
#   ci/setup.sh --all      all of the above (what `npm test` exercises)
set -euo pipefail
cd "$(dirname "$0")/.."

want_docker=0 want_vm=0 want_vagrant=0 want_tests=0
for arg in "$@"; do
  case "$arg" in
    --docker) want_docker=1 ;;
    --vm) want_vm=1 ;;
    --all) want_docker=1 want_vm=1 want_vagrant=1 want_tests=1 ;;
    --vagrant) want_vagrant=1 ;;
    *) echo "usage: ci/setup.sh [--docker] [--vm] [--vagrant] [--all]" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "ci/setup.sh: run as root (labproof creates namespaces and network devices)" >&2
  exit 1
fi

packages=(iproute2 iputils-ping iptables net-tools bridge-utils tcpdump procps util-linux kmod sudo openssh-client openssh-server)
[ "$want_vm" = 1 ] && packages+=(qemu-system-x86 qemu-utils debootstrap e2fsprogs)
[ "$want_docker" = 1 ] && packages+=(debootstrap)
# dnsmasq-base: the DHCP of libvirt's management network (a recommendation, not a dependency).
[ "$want_vagrant" = 1 ] && packages+=(vagrant vagrant-libvirt libvirt-daemon-system dnsmasq-base qemu-system-x86 qemu-utils debootstrap e2fsprogs)
# chromium: labproof's own tests open the HTML report in it, headless.
[ "$want_tests" = 1 ] && packages+=(chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# In a checkout: the dependencies and the build. Installed from npm (no lock file), npm did that.
if [ -f package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$want_docker" = 1 ]; then
  bash ci/install-docker.sh
  bash ci/build-images.sh
fi
if [ "$want_vm" = 1 ] && [ -f ci/build-vm-image.sh ]; then
  bash ci/build-vm-image.sh
fi
if [ "$want_vagrant" = 1 ]; then
  bash ci/start-libvirt.sh
  bash ci/build-vagrant-box.sh
fi
echo "== ready"
