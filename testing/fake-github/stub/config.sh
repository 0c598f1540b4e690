#!/bin/sh
# Stub of the GitHub Actions runner's config.sh, served by fake-github for tests. POSIX sh and
# busybox wget only: it runs inside busybox LXD containers. It takes the real runner's flags
# and registers with the emulator's test-only endpoint, writing a sourceable .runner file.
set -eu
cd "$(dirname "$0")"
# The stub talks to fake-github directly: tests give runners proxies that exist nowhere.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

fail_registration() {
  echo "Http response code: NotFound from 'POST $1/actions/runner-registration'" >&2
  exit 1
}

# Like the real runner, every option may also come from ACTIONS_RUNNER_INPUT_<NAME>, which keeps
# single-use tokens out of command lines.
if [ "${1:-}" = remove ]; then
  shift
  token="${ACTIONS_RUNNER_INPUT_TOKEN:-}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --token) token="$2"; shift ;;
      --unattended) ;;
      *) echo "config.sh remove: unknown option $1" >&2; exit 2 ;;
    esac
    shift
  done
  [ -f .runner ] || { echo "config.sh remove: this runner is not configured" >&2; exit 1; }
  . ./.runner
  # Secrets go in a request body read from a file: an argument would show in `ps`, on the
  # host too (a container's processes are the host's).
  printf '%s' "$token" > .remove-token
  wget -q -O /dev/null --post-file .remove-token "$EMULATOR/_emulator/stub/$RUNNER_ID/remove" || {
    rm -f .remove-token
    fail_registration "$EMULATOR"
  }
  rm -f .remove-token
  rm -f .runner .credentials
  echo "Runner removed"
  exit 0
fi

url="${ACTIONS_RUNNER_INPUT_URL:-}" token="${ACTIONS_RUNNER_INPUT_TOKEN:-}"
name="${ACTIONS_RUNNER_INPUT_NAME:-$(hostname)}" labels="${ACTIONS_RUNNER_INPUT_LABELS:-}"
group="${ACTIONS_RUNNER_INPUT_RUNNERGROUP:-Default}" ephemeral=false
while [ $# -gt 0 ]; do
  case "$1" in
    --url) url="$2"; shift ;;
    --token) token="$2"; shift ;;
    --name) name="$2"; shift ;;
    --labels) labels="$2"; shift ;;
    --runnergroup) group="$2"; shift ;;
    --work) shift ;;
    --ephemeral) ephemeral=true ;;
    --unattended | --disableupdate | --replace | --no-default-labels) ;;
    *) echo "config.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$url" ] && [ -n "$token" ] || { echo "config.sh: --url and --token are required" >&2; exit 2; }

emulator="$(echo "$url" | sed -n 's#^\(https\{0,1\}://[^/]*\).*#\1#p')"
path="${url#"$emulator"/}"
version="$(cat VERSION 2>/dev/null)"
umask 077
printf '{"path":"%s","name":"%s","labels":"%s","group":"%s","ephemeral":%s,"version":"%s","token":"%s"}' \
  "$path" "$name" "$labels" "$group" "$ephemeral" "$version" "$token" > .registration
answer="$(wget -q -O - --header "Content-Type: application/json" --post-file .registration \
  "$emulator/_emulator/stub/register")" || { rm -f .registration; fail_registration "$emulator"; }
rm -f .registration
printf '%s\nEMULATOR=%s\n' "$answer" "$emulator" > .runner
echo "Runner successfully added"
