#!/bin/sh
# mtls-health: the Docker health check, one line in the stack's vocabulary
# (ready / waiting / starting / unhealthy; exit 0 only when ready). Reads the
# stats file mtls-nginx keeps (rewritten at least every 5 s): ready while nginx
# serves a valid certificate; waiting for the first certificate (the root pin
# and the first certificate come after deploy); unhealthy when credentials
# were refused with none loaded, the certificate expired, nginx is not
# running, or the stats went stale (the entry process is stuck). Shell
# builtins, `date` and `stat`: nothing that can block.
# shellcheck source=recipes/lib/mtls-common.sh
. mtls-common.sh
fresh_stats "${STATS_FILE:-/tmp/mtls-stats.json}" || exit 1
case $state in
  waiting)
    [ -z "$err" ] || { echo "unhealthy: credentials refused, none loaded: $err"; exit 1; }
    echo "waiting: no certificate yet: the root pin and the first certificate come after deploy"; exit 1 ;;
  serving)
    pid=''
    { read -r pid; } 2>/dev/null </tmp/nginx/nginx.pid
    # shellcheck disable=SC2015  # the handler is meant to run when either step fails
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { echo "unhealthy: nginx is not running"; exit 1; }
    field serial; serial=$v
    field notAfter
    echo "ready: serving certificate $serial until $v"; exit 0 ;;
  *) echo "unhealthy: ${state:-no state}: $err"; exit 1 ;;
esac
