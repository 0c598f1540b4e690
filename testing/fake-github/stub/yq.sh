#!/bin/sh
# Stand-in of mikefarah's yq v4, served by fake-github as the release asset the charm's bake
# downloads (GitHub's releases are out of reach in tests). It answers `--version` as yq does,
# and `yq '.key' file` for a top-level scalar of a flat YAML file.
case "${1:-}" in
  --version | -V) echo "yq (https://github.com/mikefarah/yq/) version v4.53.6"; exit 0 ;;
  .*)
    key=${1#.}
    sed -n "s/^$key: *//p" "${2:-/dev/stdin}" | head -n 1
    ;;
  *) echo "yq stand-in: only --version and '.key' file" >&2; exit 1 ;;
esac
