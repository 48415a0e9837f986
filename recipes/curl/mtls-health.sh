#!/bin/sh
# mtls-health: the Docker health check. Reads the stats file mtls-curl
# rewrites after every call: healthy while waiting for the credential files
# and while calls succeed or fewer than 3 calls in a row have failed (each
# after its retries); unhealthy once 3 in a row failed, or when the stats
# went stale (the loop is stuck). Prints one line saying which.
S=${STATS_FILE:-/tmp/mtls-stats.json}
stats=$(cat "$S" 2>/dev/null) || { echo "unhealthy: no stats file $S yet"; exit 1; }
field() { printf '%s' "$stats" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
num() { printf '%s' "$stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
age=$(($(date +%s) - $(stat -c %Y "$S")))
[ "$age" -le 30 ] || { echo "unhealthy: stats not updated for ${age}s"; exit 1; }
case $(field state) in
  waiting) echo "healthy: waiting for the credential files"; exit 0 ;;
  calling)
    n=$(num consecutiveFailures)
    if [ "${n:-0}" -gt 0 ]; then echo "healthy: calling, $n call(s) in a row failed: $(field lastError)"
    else echo "healthy: calling, $(num ok) ok, last at $(field lastOkAt)"; fi
    exit 0 ;;
  *) echo "unhealthy: $(field state), $(num consecutiveFailures) calls in a row failed: $(field lastError)"; exit 1 ;;
esac
