#!/bin/sh
# mtls-health: the Docker health check, one line in the stack's vocabulary
# (ready / waiting / starting / unhealthy; exit 0 only when ready). Reads the
# stats file mtls-curl rewrites after every call: ready while calling with
# its credentials and fewer than 3 calls in a row failed (each after its
# retries); waiting for the credential files (the root pin and the first
# certificate come after deploy); unhealthy once credentials were refused
# with none loaded, 3 calls in a row failed, or the stats went stale (the
# loop is stuck). Shell builtins, `date` and `stat`: nothing that can block.
# shellcheck source=recipes/lib/mtls-common.sh
. mtls-common.sh
fresh_stats "${STATS_FILE:-/tmp/mtls-stats.json}" || exit 1
case $state in
  waiting)
    [ -z "$err" ] || { echo "unhealthy: credentials refused, none loaded: $err"; exit 1; }
    echo "waiting: no credentials yet: the root pin and the first certificate come after deploy"; exit 1 ;;
  calling)
    field serial; serial=$v
    num consecutiveFailures
    if [ "${v:-0}" -gt 0 ]; then echo "ready: calling with certificate ${serial:-?}; $v call(s) in a row failed: $err"
    else num ok; n=$v; field lastOkAt; echo "ready: calling with certificate ${serial:-?}; ${n:-0} ok, the last at ${v:-?}"; fi
    exit 0 ;;
  *) num consecutiveFailures; echo "unhealthy: ${state:-no state}: ${v:-0} calls in a row failed: $err"; exit 1 ;;
esac
