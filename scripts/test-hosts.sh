#!/usr/bin/env bash
# test-hosts.sh — the project's test hosts: network namespaces on this machine that stand in
# for hosts elsewhere, so that traffic from runners crosses a real routed network and never
# leaves the machine. Idempotent; as root.
#
#   ghr-github  10.152.0.2/24 (host side 10.152.0.1): where fake-github listens, as github.com
#   ghr-denied  10.153.0.2/24 (host side 10.153.0.1): a network the tests put in `denylist`
#   ghr-mirror  10.154.0.2/24 (host side 10.154.0.1): the Debian package mirror of the bake tests
#
#   scripts/test-hosts.sh [up]   create them (and turn on IPv4 forwarding)
#   scripts/test-hosts.sh down   delete them
set -euo pipefail

HOSTS=("ghr-github 10.152.0" "ghr-denied 10.153.0" "ghr-mirror 10.154.0")

log() { echo "[test-hosts] $*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (it creates network namespaces)"; exit 1; }
command -v ip >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }

up() {
  local entry name net
  sysctl -qw net.ipv4.ip_forward=1
  for entry in "${HOSTS[@]}"; do
    read -r name net <<<"$entry"
    if ip netns exec "$name" ip -4 addr show dev eth0 2>/dev/null | grep -q "$net.2/24"; then continue; fi
    ip netns del "$name" 2>/dev/null || true
    ip link del "${name}0" 2>/dev/null || true
    ip netns add "$name"
    ip link add "${name}0" type veth peer name eth0 netns "$name"
    ip addr add "$net.1/24" dev "${name}0"
    ip link set "${name}0" up
    ip netns exec "$name" ip addr add "$net.2/24" dev eth0
    ip netns exec "$name" ip link set eth0 up
    ip netns exec "$name" ip link set lo up
    ip netns exec "$name" ip route add default via "$net.1"
    log "$name at $net.2"
  done
}

down() {
  local entry name net
  for entry in "${HOSTS[@]}"; do
    read -r name net <<<"$entry"
    ip netns del "$name" 2>/dev/null || true
    ip link del "${name}0" 2>/dev/null || true
  done
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) log "usage: $0 [up|down]"; exit 2 ;;
esac
