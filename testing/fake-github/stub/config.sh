#!/bin/sh
# Stub of the GitHub Actions runner's config.sh, served by fake-github for tests. POSIX sh and
# busybox wget only: it runs inside busybox LXD containers. It takes the real runner's flags
# and registers with the emulator's test-only endpoint, writing a sourceable .runner file.
# It refuses what the real one refuses: root without RUNNER_ALLOW_RUNASROOT, a system without
# ICU (which .NET needs), and a runner that is configured already.
set -eu
cd "$(dirname "$0")"

if [ "$(id -u)" -eq 0 ] && [ -z "${RUNNER_ALLOW_RUNASROOT:-}" ]; then
  echo "Must not run with sudo"
  exit 1
fi
if ! ./bin/Runner.Listener --version >/dev/null 2>&1; then
  echo "Libicu's dependencies is missing for Dotnet Core 6.0"
  echo "Execute sudo ./bin/installdependencies.sh to install any missing Dotnet Core 6.0 dependencies."
  exit 1
fi
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
  rm -f .runner .credentials .credentials_rsaparams
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
if [ -f .runner ]; then
  echo "Cannot configure the runner because it is already configured. To reconfigure the runner, run 'config.cmd remove' or './config.sh remove' first." >&2
  exit 1
fi

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
