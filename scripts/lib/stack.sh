# shellcheck shell=bash
# The local stack the demo and the benchmarks run the charm on: the real LXD daemon
# (scripts/lxd-setup.sh), fake-github on its test host (a network namespace from
# scripts/test-hosts.sh: runners reach it by routing, as they reach github.com, and may not
# reach this host), and fake-juju over a throwaway model and host root. Sourced, not run.
#
# For a development machine: it deletes every LXD object the charm makes (`dispatch lxd-objects`)
# left by earlier runs, so do not use it on a machine whose LXD serves a real deployment.

stack_profile=${STACK_PROFILE:-debug}
STACK_SERVICES=()

fj() { "target/$stack_profile/fake-juju" "$@"; }

# Deletes runner instances of app $1 (and bench-scale's `lxd-floor-*`), then every LXD object
# the charm makes, as the charm's own binary lists them (`dispatch lxd-objects`: one list for the
# charm, the tests and these scripts), where nothing uses them.
stack_reset_lxd() {
  local app=$1 line name noun object pattern
  for name in $(lxc list -c n --format csv | grep -E "^($app-|lxd-floor-)" || true); do
    lxc delete --force "$name" >/dev/null 2>&1 || true
  done
  while read -r line; do
    object=${line##* } noun=${line% *}
    # `#` is a lowercase hex digit, a final `*` any rest.
    case $object in
      *'*') pattern="^${object%\*}" ;;
      *) pattern="^$object\$" ;;
    esac
    pattern=${pattern//#/[0-9a-f]}
    # shellcheck disable=SC2086 # the noun may be two words (`network acl`)
    for name in $(lxc $noun list --format csv | cut -d, -f1 | grep -E "$pattern" || true); do
      lxc $noun delete "$name" >/dev/null 2>&1 || true
    done
  done < <("target/$stack_profile/github-runner" lxd-objects)
  # The runners' packet filters (not LXD objects: nftables tables, one an application).
  for table in $(nft list tables inet 2>/dev/null | awk '$3 ~ /^(ghr-[0-9a-f]+$|github-runner$)/ {print $3}'); do
    nft delete table inet "$table" 2>/dev/null || true
  done
}

# stack_start APP: builds, starts LXD and fake-github (for STACK_PATH: the organisation
# `test-org` by default, or a repository `owner/name`); sets STACK_WORK, GITHUB_URL, the model
# and root.
stack_start() {
  STACK_APP=$1
  [ "$(id -u)" = 0 ] || { echo "run as root: it starts LXD and mounts the runners' RAM disk" >&2; exit 1; }
  scripts/lxd-setup.sh start >/dev/null
  scripts/test-hosts.sh up
  if [ "$stack_profile" = release ]; then cargo build --quiet --release --workspace --locked; else cargo build --quiet --workspace --locked; fi
  STACK_WORK="$(mktemp -d -t github-runner-stack.XXXXXX)"
  export FAKE_JUJU_MODEL="$STACK_WORK/model" GITHUB_RUNNER_ROOT="$STACK_WORK/root" LXD_DIR=/var/lib/lxd
  stack_reset_lxd "$STACK_APP"
  local scope=(--org "${STACK_PATH:-test-org}")
  case ${STACK_PATH:-test-org} in */*) scope=(--repo "$STACK_PATH") ;; esac
  ip netns exec ghr-github "target/$stack_profile/fake-github" --listen 10.152.0.2:0 "${scope[@]}" \
    --heartbeat-timeout 10 >"$STACK_WORK/github.out" 2>&1 &
  STACK_GITHUB_PID=$!
  for _ in $(seq 100); do [ -s "$STACK_WORK/github.out" ] && break; sleep 0.05; done
  GITHUB_URL="$(head -n1 "$STACK_WORK/github.out")"
  STACK_CHARM="$(scripts/pack --binary "target/$stack_profile/github-runner" --out "$STACK_WORK/build" | sed -n 1p)"
  trap stack_stop EXIT
  trap "exit 130" INT TERM
}

# The config that points the charm at the local stack (STACK_IMAGE: the runners' image, used
# as it is unless STACK_BAKE=true: busybox has no apt to bake with).
stack_config() {
  echo "path=${STACK_PATH:-test-org} token=ghp_emulatortoken test-mode=insecure github-url=$GITHUB_URL" \
    "bake-image=${STACK_BAKE:-false} base-image=${STACK_IMAGE:-runner-test} vm-cpu=1 vm-memory=${STACK_MEMORY:-256MiB} vm-disk=${STACK_DISK:-128MiB}"
}

# stack_deploy [KEY=VALUE…]: deploys the packed charm as the app with the local stack's config
# and the extra options given (e.g. virtual-machines=3), through $STACK_JUJU (default `fj`; the
# demo's echoing `juju` wrapper).
stack_deploy() {
  local args=() kv
  for kv in $(stack_config) "$@"; do args+=(--config "$kv"); done
  "${STACK_JUJU:-fj}" deploy "$STACK_CHARM" "$STACK_APP" "${args[@]}"
}

# Waits until N runners of the app are online in fake-github (at most 60 s).
stack_wait_online() {
  local n=$1 online
  for _ in $(seq 240); do
    online=$(stack_runners | grep -c ' online$' || true)
    [ "$online" -ge "$n" ] && return 0
    sleep 0.25
  done
  echo "timed out waiting for $n online runners" >&2
  return 1
}

# This app's runners in fake-github, one `name status busy` line each.
stack_runners() {
  curl -s "$GITHUB_URL/_emulator/runners" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["name"].startswith(sys.argv[1] + "-"):
        print(r["name"], r["id"], "busy" if r["busy"] else "idle", r["status"])' "$STACK_APP"
}

# stack_service UNIT: runs the unit file's ExecStart in the background as systemd would (as
# root, systemd's PATH with the fake machine's tools first, no Juju variables); sets
# STACK_SERVICE_PID. Its output goes to $STACK_WORK/UNIT.log.
stack_service() {
  local unit=$1 exec
  exec=$(sed -n 's/^ExecStart=//p' "$GITHUB_RUNNER_ROOT/etc/systemd/system/$unit")
  env -i PATH="$FAKE_JUJU_MODEL/tools:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    LANG=C.UTF-8 FAKE_JUJU_MODEL="$FAKE_JUJU_MODEL" GITHUB_RUNNER_ROOT="$GITHUB_RUNNER_ROOT" \
    sh -c "exec $exec" >"$STACK_WORK/$unit.log" 2>&1 &
  STACK_SERVICE_PID=$!
  STACK_SERVICES+=("$STACK_SERVICE_PID")
}

stack_stop() {
  local pid
  for pid in "${STACK_SERVICES[@]}"; do kill "$pid" 2>/dev/null || true; done
  fj remove-unit "$STACK_APP/0" >/dev/null 2>&1 || true
  [ -n "${STACK_GITHUB_PID:-}" ] && kill "$STACK_GITHUB_PID" 2>/dev/null
  stack_reset_lxd "$STACK_APP"
  for disk in "$GITHUB_RUNNER_ROOT"/storage/*; do umount "$disk" 2>/dev/null || true; done
  if [ "${STACK_KEEP:-0}" = 1 ]; then echo "kept $STACK_WORK"; else rm -rf "$STACK_WORK"; fi
}
