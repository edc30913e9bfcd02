#!/usr/bin/env bash
# Make a docker engine answer on this machine, for labproof's docker backend. Idempotent:
# installs Debian's docker.io when dockerd is missing, starts dockerd in the background when
# `docker info` fails, and waits until it answers. Needs root (or sudo) and a Debian/Ubuntu host.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  echo "install-docker: installing docker.io"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
fi

if docker info >/dev/null 2>&1; then
  echo "install-docker: the docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

log="${LABPROOF_DOCKERD_LOG:-/var/log/labproof-dockerd.log}"
echo "install-docker: starting dockerd in the background (log: $log)"
# setsid: dockerd outlives this script and the CI step that ran it.
as_root sh -c "setsid nohup dockerd >'$log' 2>&1 < /dev/null & echo \$! > /run/labproof-dockerd.pid"
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "install-docker: dockerd (pid $(cat /run/labproof-dockerd.pid)) answers"
    exit 0
  fi
  sleep 1
done
echo "install-docker: dockerd did not answer within 60 s; the end of its log:" >&2
tail -n 40 "$log" >&2 || true
exit 1
