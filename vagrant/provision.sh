#!/bin/sh
# labproof's provisioning of a Vagrant lab VM, run as root by vagrant's shell provisioner.
#   provision.sh host    HOSTNAME UNDERLAY_IF UNDERLAY_MAC ADDRESS/PREFIX GATEWAY
#   provision.sh gateway HOSTNAME UNDERLAY_IF UNDERLAY_MAC ADDRESS/PREFIX GW_TRANSIT INTERNET_TRANSIT "INTERNET_ADDRESSES"
# It installs the lab tools when missing (Debian, Ubuntu, Fedora family), names the underlay NIC
# (found by the MAC the Vagrantfile gave it) as the documents do, addresses it, lets root log in
# with the key vagrant uses (labproof runs every command as root, so a timeout can kill it), and
# prints the SSH host keys for labproof to pin.
set -eu

# labproof's own box runs sshd in a management network namespace of its own; the lab lives in
# PID 1's. On other boxes the two are the same and this does nothing.
if [ "$(readlink /proc/1/ns/net)" != "$(readlink /proc/self/ns/net)" ]; then
  exec nsenter --net=/proc/1/ns/net -- sh "$0" "$@"
fi

role=$1 hostname_=$2 underlay_if=$3 underlay_mac=$4 address=$5
say() { echo "labproof-provision: $*"; }

# --- the lab tools -----------------------------------------------------------------------------
missing=""
for tool in ip ping iptables ifconfig brctl tcpdump ps modprobe nsenter; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  say "installing the lab tools (missing:$missing)"
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends iproute2 iputils-ping iptables net-tools bridge-utils tcpdump procps kmod util-linux >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y -q iproute iputils iptables-nft net-tools bridge-utils tcpdump procps-ng kmod util-linux
  elif command -v yum >/dev/null 2>&1; then
    yum install -y -q iproute iputils iptables net-tools bridge-utils tcpdump procps-ng kmod util-linux
  else
    say "no apt-get, dnf or yum: install iproute2 iputils-ping iptables net-tools bridge-utils tcpdump procps kmod by hand"
    exit 1
  fi
fi

# --- hostname ----------------------------------------------------------------------------------
if command -v hostnamectl >/dev/null 2>&1 && hostnamectl set-hostname "$hostname_" 2>/dev/null; then :; else
  hostname "$hostname_" 2>/dev/null || echo "$hostname_" > /proc/sys/kernel/hostname
  echo "$hostname_" > /etc/hostname
fi

# --- the underlay NIC --------------------------------------------------------------------------
mac=$(echo "$underlay_mac" | sed 's/../&:/g; s/:$//' | tr 'A-F' 'a-f')
nic=""
for dev in /sys/class/net/*; do
  [ "$(cat "$dev/address" 2>/dev/null)" = "$mac" ] && nic=${dev##*/}
done
[ -n "$nic" ] || { say "no NIC with MAC $mac"; ip -br link; exit 1; }
if [ "$nic" != "$underlay_if" ]; then
  if [ -e "/sys/class/net/$underlay_if" ]; then
    say "another NIC is already called $underlay_if (the box's management NIC?); cannot rename $nic"
    exit 1
  fi
  ip link set "$nic" down
  ip link set "$nic" name "$underlay_if"
fi
# A network manager must not DHCP on the lab's segment or undo the address.
command -v nmcli >/dev/null 2>&1 && nmcli device set "$underlay_if" managed no 2>/dev/null || true
ip addr flush dev "$underlay_if"
ip addr add "$address" dev "$underlay_if"
ip link set "$underlay_if" up

if [ "$role" = host ]; then
  gateway=$6
  # The lab's default route is the gateway, never the management network.
  while ip -4 route del default 2>/dev/null; do :; done
  ip route add default via "$gateway" dev "$underlay_if"
  sysctl -qw net.ipv4.ip_forward=0
else
  gateway_transit=$6 internet_transit=$7 internet_addresses=$8
  underlay_subnet=$(ip -4 route show dev "$underlay_if" proto kernel | awk '{print $1; exit}')
  ip netns del internet 2>/dev/null || true
  ip netns add internet
  ip link add wan type veth peer name eth0 netns internet
  ip addr add "$gateway_transit" dev wan
  ip link set wan up
  ip -n internet link set lo up
  ip -n internet addr add "$internet_transit" dev eth0
  ip -n internet link set eth0 up
  for a in $internet_addresses; do
    ip -n internet addr add "$a/32" dev lo
    ip route replace "$a/32" via "${internet_transit%/*}"
  done
  # Like a real internet: it answers the underlay, and has no route to a lab's private subnets.
  ip -n internet route add "$underlay_subnet" via "${gateway_transit%/*}"
  # The gateway routes between the underlay and its internet host, and nowhere else (not out of
  # the management NIC, whatever default route the box has).
  while ip -4 route del default 2>/dev/null; do :; done
  sysctl -qw net.ipv4.ip_forward=1
  iptables -w -P FORWARD DROP
  iptables -w -F FORWARD
  iptables -w -A FORWARD -i "$underlay_if" -o wan -j ACCEPT
  iptables -w -A FORWARD -i wan -o "$underlay_if" -j ACCEPT
fi

# --- root login with vagrant's key -------------------------------------------------------------
login_user=${SUDO_USER:-root}
if [ "$login_user" != root ]; then
  home=$(getent passwd "$login_user" | cut -d: -f6)
  mkdir -p /root/.ssh && chmod 700 /root/.ssh
  touch /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
  while read -r key; do
    grep -qxF "$key" /root/.ssh/authorized_keys || echo "$key" >> /root/.ssh/authorized_keys
  done < "$home/.ssh/authorized_keys"
  if [ -d /etc/ssh/sshd_config.d ] && ! sshd -T 2>/dev/null | grep -qx 'permitrootlogin \(yes\|prohibit-password\|without-password\)'; then
    echo 'PermitRootLogin prohibit-password' > /etc/ssh/sshd_config.d/00-labproof-root.conf
    systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || true
  fi
fi

# --- host keys, for labproof to pin -----------------------------------------------------------
for pub in /etc/ssh/ssh_host_*_key.pub; do
  [ -e "$pub" ] && echo "labproof-host-key $(cut -d' ' -f1,2 "$pub")"
done
say "$role $hostname_ ready: $underlay_if $address"
