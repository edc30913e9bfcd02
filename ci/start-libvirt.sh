#!/usr/bin/env bash
# Make libvirt's system instance answer at qemu:///system for the Vagrant backend, on machines
# with or without systemd (CI containers have none: the daemons are started here, detached, and
# their PIDs printed). Idempotent.
set -euo pipefail

# Without udev, /dev/kvm stays root:root 0600. libvirt then finds KVM in qemu's capabilities but
# not usable by its qemu user, declares its capability cache stale on every call and probes qemu
# again and again (each domain call takes seconds to minutes). udev's own rule makes it kvm 0660.
if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G /dev/kvm)" = root ]; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
  echo "== /dev/kvm: root:kvm 0660, as udev would set it"
fi

if virsh -c qemu:///system uri >/dev/null 2>&1; then
  echo "== libvirtd answers at qemu:///system"
  exit 0
fi
if [ -d /run/systemd/system ]; then
  systemctl start virtlogd.socket libvirtd.socket libvirtd.service
else
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
  echo "== started virtlogd (pid $(cat /run/virtlogd.pid 2>/dev/null || echo ?)) and libvirtd (pid $(cat /run/libvirtd.pid 2>/dev/null || echo ?))"
fi
for _ in $(seq 1 50); do
  virsh -c qemu:///system uri >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "ci/start-libvirt.sh: libvirtd does not answer at qemu:///system" >&2
exit 1
