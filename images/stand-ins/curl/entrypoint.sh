#!/bin/sh
# Stand-in for curl/curl-container's etc/entrypoint.sh, written independently
# with the same rule: when the first argument is an option or not a command
# on PATH, the arguments are handed to curl. Then the command replaces this shell.
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ]; then
  set -- curl "$@"
fi
exec "$@"
