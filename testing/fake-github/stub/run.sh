#!/bin/sh
# Stub of the GitHub Actions runner's run.sh: like the real one, a wrapper that starts the
# listener and outlives it, keeping the environment it was given (ACTIONS_RUNNER_INPUT_* too).
# The charm does not use it; it starts bin/Runner.Listener itself.
"$(dirname "$0")"/bin/Runner.Listener run "$@"
