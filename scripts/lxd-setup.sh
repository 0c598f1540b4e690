#!/usr/bin/env bash
# lxd-setup.sh — a real LXD daemon for the tests and the demo, on a Debian/Ubuntu machine
# with or without systemd (CI machines have none). Idempotent: each step is skipped when done.
#
#   scripts/lxd-setup.sh [start]  install Debian's lxd if needed, start the daemon, initialise
#                                 it (dir pool, lxdbr0 at an explicit address, no NAT), build and
#                                 import the busybox test images `runner-test` and `runner-bare`
#                                 (the same without ICU); the last line
#                                 printed is `LXD_SOCKET=<path>`
#   scripts/lxd-setup.sh stop     stop every instance and the daemon this script started
#   scripts/lxd-setup.sh status   whether the daemon answers
#
#   scripts/lxd-setup.sh systemd-image
#                                 also build (mmdebstrap, cached by recipe) and import the Debian
#                                 systemd image `runner-systemd`, and `runner-debian`, the same
#                                 without ICU (scripts/lib/images.sh)
#
# Environment: LXD_BRIDGE_CIDR (default 10.150.0.1/24), LXD_RUN_DIR (default /run/lxd-test),
# LXD_IMAGE_CACHE (default .cache/images in this clone).
#
# Why so: Debian's LXD 5.0 runs containers only here (no KVM), cannot download images (no
# internet), and needs dnsmasq-base and nftables named explicitly. The runner image is busybox:
# it has sh, wget, tar, base64 and the rest the stub runner needs, and starts in ~0.3 s.
set -euo pipefail

LXD_RUN_DIR=${LXD_RUN_DIR:-/run/lxd-test}
LXD_BRIDGE_CIDR=${LXD_BRIDGE_CIDR:-10.150.0.1/24}
LXD_SOCKET=/var/lib/lxd/unix.socket
PIDFILE=$LXD_RUN_DIR/lxd.pid
LOGFILE=/var/log/lxd/lxd.log

log() { echo "[lxd-setup $(date +%T)] $*" >&2; }
# shellcheck source=lib/images.sh
. "$(dirname "$0")/lib/images.sh"
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts a daemon)"

daemon_up() {
  [ -S "$LXD_SOCKET" ] && curl -sf --max-time 5 --unix-socket "$LXD_SOCKET" lxd/1.0 >/dev/null 2>&1
}

our_pid() {
  local pid state
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = lxd ] || return 1
  state=$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] || return 1
  echo "$pid"
}

install_packages() {
  local missing="" p
  for p in lxd lxd-client dnsmasq-base nftables busybox-static curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends: no apparmor (no kernel support here), no lxd-agent (VMs only).
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  # Unprivileged containers need subordinate ids for root.
  grep -q '^root:' /etc/subuid 2>/dev/null || echo "root:1000000:1000000000" >>/etc/subuid
  grep -q '^root:' /etc/subgid 2>/dev/null || echo "root:1000000:1000000000" >>/etc/subgid
}

start_daemon() {
  if daemon_up; then log "daemon already answering on $LXD_SOCKET"; return; fi
  local pid
  if ! pid=$(our_pid); then
    mkdir -p "$LXD_RUN_DIR" /var/log/lxd
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    log "starting lxd"
    setsid nohup /usr/bin/lxd --group lxd --logfile="$LOGFILE" >"$LXD_RUN_DIR/lxd.stdout" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  if ! timeout 120 lxd waitready --timeout=100; then
    tail -n 30 "$LOGFILE" "$LXD_RUN_DIR/lxd.stdout" >&2 || true
    die "lxd (pid $pid) did not become ready"
  fi
  log "daemon pid $pid ready"
}

init_lxd() {
  if lxc storage show default >/dev/null 2>&1; then return; fi
  log "lxd init (dir pool, lxdbr0 $LXD_BRIDGE_CIDR without NAT)"
  # A bridge an earlier daemon made and its state, now gone, no longer knows (LXD killed, then
  # /var/lib/lxd wiped): LXD cannot create its network over it ("Network not found").
  # (LXD lists such an interface as an unmanaged network.)
  if ip link show lxdbr0 >/dev/null 2>&1 && ! lxc network show lxdbr0 2>/dev/null | grep -qx 'managed: true'; then
    log "deleting the bridge lxdbr0 a former LXD left behind"
    ip link delete lxdbr0
  fi
  # An explicit address: "auto" makes LXD probe random subnets. No NAT: nothing the
  # containers send leaves this machine.
  lxd init --preseed <<PRESEED
networks:
- name: lxdbr0
  type: bridge
  config:
    ipv4.address: $LXD_BRIDGE_CIDR
    ipv4.nat: "false"
    ipv6.address: none
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root: {path: /, pool: default, type: disk}
    eth0: {name: eth0, network: lxdbr0, type: nic}
PRESEED
}

do_start() {
  local t0
  t0=$(date +%s)
  install_packages
  start_daemon
  init_lxd
  build_image runner-test busybox_recipe "busybox runner test image"
  build_image runner-bare bare_recipe "busybox runner test image without ICU"
  log "ready in $(($(date +%s) - t0)) s"
  echo "LXD_SOCKET=$LXD_SOCKET"
}

do_stop() {
  local pid i v mac
  pid=$(our_pid || true)
  if daemon_up; then
    log "lxd shutdown (stops every instance)"
    timeout 120 lxd shutdown --timeout 90 || log "lxd shutdown returned $?"
  fi
  if [ -n "$pid" ]; then
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { log "daemon $pid still alive: SIGKILL"; kill -9 "$pid" || true; }
  fi
  rm -f "$PIDFILE"
  if ! daemon_up; then
    # LXD 5.0 leaks the host end of the veth of an instance whose start failed.
    for v in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
      mac=$(cat "/sys/class/net/$v/address" 2>/dev/null) || continue
      case $mac in 00:16:3e:*) ip link del "$v" 2>/dev/null && log "removed leaked veth $v" ;; esac
    done
  fi
  log "stopped"
}

case "${1:-start}" in
  start) do_start ;;
  systemd-image)
    do_start >/dev/null
    build_image runner-systemd systemd_recipe "Debian bookworm systemd runner test image"
    build_image runner-debian debian_recipe "Debian bookworm systemd runner test image without ICU"
    ;;
  stop) do_stop ;;
  status) if daemon_up; then echo "up (socket $LXD_SOCKET)"; else echo down; exit 1; fi ;;
  *) die "usage: $0 [start|systemd-image|stop|status]" ;;
esac
