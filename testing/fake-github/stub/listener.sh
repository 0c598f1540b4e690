#!/bin/sh
# Stub of the GitHub Actions runner's listener, `bin/Runner.Listener run`, served by fake-github
# for tests. It keeps the runner online with heartbeats while it lives, and exits when its one
# job is done (ephemeral) or the runner is removed. `--jitconfig BLOB` (or
# ACTIONS_RUNNER_INPUT_JITCONFIG) configures it first, as the real listener does.
set -u
cd "$(dirname "$0")/.."
[ "${1:-}" = run ] && shift
# The stub talks to fake-github directly: tests give runners proxies that exist nowhere.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

jitconfig="${ACTIONS_RUNNER_INPUT_JITCONFIG:-}"
# Dropped at once, as the real runner drops every ACTIONS_RUNNER_INPUT_*: what it starts (a job,
# here `sleep`) does not inherit it.
unset ACTIONS_RUNNER_INPUT_JITCONFIG
[ "${1:-}" = --jitconfig ] && jitconfig="$2"
if [ -n "$jitconfig" ]; then
  # The blob is base64 JSON mapping file names to base64 contents, as GitHub's is. Like the real
  # runner, it may come as --jitconfig or as ACTIONS_RUNNER_INPUT_JITCONFIG (out of argv).
  json="$(printf '%s' "$jitconfig" | base64 -d)" || { echo "Runner.Listener: bad JIT config" >&2; exit 1; }
  for file in .runner .credentials; do
    printf '%s' "$json" | sed -n "s/.*\"$file\":\"\([^\"]*\)\".*/\1/p" | base64 -d > "$file"
  done
  . ./.runner
  # The secret goes as the body, from its file: an argument would show in `ps`.
  wget -q -O /dev/null --header "X-Runner-Version: $(cat VERSION 2>/dev/null)" --post-file .credentials \
    "$EMULATOR/_emulator/stub/jit" || {
    echo "Runner.Listener: the JIT configuration was refused (used, expired or unknown)" >&2
    exit 1
  }
fi

[ -f .runner ] || { echo "Runner.Listener: not configured: run config.sh first" >&2; exit 1; }
. ./.runner
trap 'wget -q -O /dev/null --post-data "" "$EMULATOR/_emulator/stub/$RUNNER_ID/offline" 2>/dev/null; exit 0' TERM INT
echo "Listening for Jobs"
failures=0
while :; do
  # `timeout`, not `wget -T`: Debian's busybox 1.35 wget crashes with -T on a refused connection.
  state="$(timeout 10 wget -q -O - --post-data "" "$EMULATOR/_emulator/stub/$RUNNER_ID/heartbeat" 2>/dev/null)" || state=unreachable
  case "$state" in
    done) echo "Job completed; ephemeral runner exits"; exit 0 ;;
    removed) echo "Runner removed from GitHub; exiting"; exit 0 ;;
    unreachable)
      failures=$((failures + 1))
      [ "$failures" -lt "${STUB_MAX_FAILURES:-60}" ] || { echo "Runner.Listener: GitHub unreachable" >&2; exit 1; }
      ;;
    *) failures=0 ;;
  esac
  sleep "${STUB_HEARTBEAT_SECS:-1}"
done
