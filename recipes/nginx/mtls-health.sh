#!/bin/sh
# mtls-health: the Docker health check. Reads the stats file mtls-nginx keeps
# (rewritten at least every 5 s): healthy while waiting for the first
# certificate and while serving a valid one; unhealthy when the certificate
# expired, nginx is not running, or the stats went stale (the entry process
# is stuck). Prints one line saying which.
S=${STATS_FILE:-/tmp/mtls-stats.json}
stats=$(cat "$S" 2>/dev/null) || { echo "unhealthy: no stats file $S yet"; exit 1; }
field() { printf '%s' "$stats" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
age=$(($(date +%s) - $(stat -c %Y "$S")))
[ "$age" -le 30 ] || { echo "unhealthy: stats not updated for ${age}s"; exit 1; }
case $(field state) in
  waiting)
    err=$(field lastError)
    echo "healthy: waiting for the first certificate${err:+ (last set refused: $err)}"
    exit 0 ;;
  serving)
    kill -0 "$(cat /tmp/nginx/nginx.pid 2>/dev/null)" 2>/dev/null || { echo "unhealthy: nginx is not running"; exit 1; }
    echo "healthy: serving certificate $(field serial) until $(field notAfter)"
    exit 0 ;;
  *) echo "unhealthy: $(field state): $(field lastError)"; exit 1 ;;
esac
