#!/bin/sh
# Stand-in for nodejs/docker-node's docker-entrypoint.sh, written
# independently with the same rule: when the first argument is an option, is
# not a command found on PATH, or is a file that is not executable, the
# arguments are handed to node. Then the command replaces this shell.
set -e
first="${1-}"
case "$first" in
  -*) set -- node "$@" ;;
  *)
    if ! command -v "$first" >/dev/null 2>&1 || { [ -f "$first" ] && [ ! -x "$first" ]; }; then
      set -- node "$@"
    fi
    ;;
esac
exec "$@"
