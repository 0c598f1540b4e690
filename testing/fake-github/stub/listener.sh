#!/bin/sh
# Stub of the GitHub Actions runner's listener, `bin/Runner.Listener`, served by fake-github for
# tests. POSIX sh and busybox only. It refuses what the real one refuses and leaves what it
# leaves (actions/runner: src/Runner.Listener/{Program,Runner,CommandSettings}.cs,
# src/Misc/layoutroot/*, update.sh.template):
# - .NET needs ICU: without libicuuc (as the loader would look for it) it aborts, exit 134;
# - `run` is required: without it, the usage and exit 0;
# - every ACTIONS_RUNNER_INPUT_* is read and cleared, matched case-insensitively;
# - `<root>/.env` is read by the listener itself, each line split at its first `=`;
# - `--jitconfig` (or the input) writes .runner, .credentials and .credentials_rsaparams with
#   the process umask, and an ephemeral runner deletes them after its job;
# - _diag/ and _work/ are made; the job fake-github hands out runs in _work as this user;
# - a self-update exits 3 (4 when ephemeral) and leaves _work/_update.sh swapping bin/, then
#   touching update.finished; fake-github can make the listener exit 2 or 5.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)

# .NET's globalization loads libicuuc.so.<version> from the loader's directories; unless
# invariant mode is asked for, a missing ICU aborts the process (SIGABRT: 134).
icu_present() {
  case "${DOTNET_SYSTEM_GLOBALIZATION_INVARIANT:-}" in 1 | true | TRUE | True) return 0 ;; esac
  for dir in ${STUB_LIBRARY_PATH:-/lib /lib64 /usr/lib /usr/lib64 /lib/*-linux-gnu /usr/lib/*-linux-gnu}; do
    for lib in "$dir"/libicuuc.so.[0-9]*; do
      [ -e "$lib" ] && return 0
    done
  done
  return 1
}
if ! icu_present; then
  cat >&2 <<'ICU'
Process terminated. Couldn't find a valid ICU package installed on the system. Please install libicu (or icu-libs) using your package manager and try again. Alternatively you can set the configuration flag System.Globalization.Invariant to true if you want to run with no globalization support.
ICU
  exit 134
fi

version=$(cat VERSION 2>/dev/null)
case "${1:-}" in
  --version) echo "$version"; exit 0 ;;
  --commit) echo 0000000000000000000000000000000000000000; exit 0 ;;
  run) shift ;;
  *)
    cat <<'USAGE'
Commands:
 ./config.sh         Configures the runner
 ./config.sh remove  Unconfigures the runner
 ./run.sh            Runs the runner interactively. Does not require any options.
USAGE
    exit 0
    ;;
esac

# The inputs: kept by their lower-cased name, then removed from the environment, whatever their
# case, so that nothing the listener starts inherits them.
jitconfig=""
for name in $(env | sed -n 's/^\([A-Za-z0-9_]*\)=.*/\1/p'); do
  case "$(echo "$name" | tr 'A-Z' 'a-z')" in
    actions_runner_input_jitconfig) eval "jitconfig=\${$name}" ;;
  esac
  case "$(echo "$name" | tr 'A-Z' 'a-z')" in
    actions_runner_input_*) unset "$name" ;;
  esac
done
[ "${1:-}" = --jitconfig ] && jitconfig="$2"

# The runner's own .env, as Program.cs reads it: every line with `=` after its first character.
if [ -f .env ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in [!=]*=*) export "${line%%=*}=${line#*=}" 2>/dev/null || true ;; esac
  done < .env
fi
# The stub talks to fake-github directly: tests give runners proxies that exist nowhere.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

mkdir -p _diag _work
diag="_diag/Runner_$(date +%Y%m%d-%H%M%S)-utc.log"
log() { echo "[$(date +%H:%M:%S)] $*" >> "$diag"; }
log "Runner.Listener $version starting (pid $$)"

if [ -n "$jitconfig" ]; then
  # The blob is base64 JSON mapping file names to base64 contents, as GitHub's is. The files
  # are written with the process umask, as the real listener's JIT path writes them.
  json="$(printf '%s' "$jitconfig" | base64 -d)" || { echo "Runner.Listener: bad JIT config" >&2; exit 1; }
  for file in .runner .credentials .credentials_rsaparams; do
    printf '%s' "$json" | sed -n "s/.*\"$file\":\"\([^\"]*\)\".*/\1/p" | base64 -d > "$file"
  done
  . ./.runner
  # The secret goes as the body, from its file: an argument would show in `ps`.
  wget -q -O /dev/null --header "X-Runner-Version: $version" --post-file .credentials \
    "$EMULATOR/_emulator/stub/jit" || {
    echo "Runner.Listener: the JIT configuration was refused (used, expired or unknown)" >&2
    exit 1
  }
fi

[ -f .runner ] || { echo "Runner.Listener: not configured: run config.sh first" >&2; exit 1; }
. ./.runner

forget_credentials() { rm -f .runner .credentials .credentials_rsaparams; }
offline() { wget -q -O /dev/null --post-data "" "$EMULATOR/_emulator/stub/$RUNNER_ID/offline" 2>/dev/null; }
trap 'offline; exit 0' TERM INT

# The job fake-github hands out: a shell script, run in _work as this user with the listener's
# environment; its output and exit code go back to fake-github, which then finishes the job.
run_job() {
  job="_work/job-$$"
  mkdir -p "$job"
  wget -q -O "$job/script.sh" "$EMULATOR/_emulator/stub/$RUNNER_ID/job" || return 0
  log "running a job"
  (cd "$job" && sh ./script.sh) > "$job/output" 2>&1 && code=0 || code=$?
  wget -q -O /dev/null --post-file "$job/output" "$EMULATOR/_emulator/stub/$RUNNER_ID/job-result?code=$code"
  log "job finished (exit code $code)"
  rm -rf "$job"
}

# A self-update as the real listener leaves it: _update.sh waits for the listener to be gone,
# swaps bin/ (here: one that reports the new version) after a delay, and touches
# update.finished, which run-helper.sh waits for.
self_update() {
  new=$1 delay=$2
  cat > _work/_update.sh <<UPDATE
#!/bin/sh
cd "$root"
while kill -0 $$ 2>/dev/null; do sleep 0.2; done
sleep $delay
rm -rf bin.new && cp -R bin bin.new && echo "$new" > VERSION.new
mv bin bin.old && mv bin.new bin && mv VERSION.new VERSION && rm -rf bin.old
echo "[update] swapped bin/ to $new" >> "$diag"
touch update.finished
UPDATE
  (setsid sh _work/_update.sh > /dev/null 2>&1 < /dev/null &)
  log "updating to $new; exiting"
  echo "Runner update in progress, do not shutdown runner."
  [ "${EPHEMERAL:-false}" = true ] && exit 4
  exit 3
}

echo "Listening for Jobs"
failures=0
while :; do
  # `timeout`, not `wget -T`: Debian's busybox 1.35 wget crashes with -T on a refused connection.
  state="$(timeout 10 wget -q -O - --header "X-Runner-Version: $version" --post-data "" \
    "$EMULATOR/_emulator/stub/$RUNNER_ID/heartbeat" 2>/dev/null)" || state=unreachable
  case "$state" in
    done)
      echo "Job completed; ephemeral runner exits"
      [ "${EPHEMERAL:-false}" = true ] && forget_credentials
      exit 0
      ;;
    removed) echo "Runner removed from GitHub; exiting"; forget_credentials; exit 0 ;;
    job) failures=0; run_job ;;
    "update "*) set -- $state; self_update "$2" "$3" ;;
    "exit "*) set -- $state; log "exiting with code $2 as asked"; exit "$2" ;;
    unreachable)
      failures=$((failures + 1))
      [ "$failures" -lt "${STUB_MAX_FAILURES:-60}" ] || { echo "Runner.Listener: GitHub unreachable" >&2; exit 1; }
      ;;
    *) failures=0 ;;
  esac
  sleep "${STUB_HEARTBEAT_SECS:-1}"
done
