#!/bin/sh
# mtls-health: the Docker health check, one line in the stack's vocabulary
# (ready / waiting / starting / unhealthy; exit 0 only when ready). Reads the
# stats file mtls-nginx keeps (rewritten at least every 5 s): ready while nginx
# serves a valid certificate; waiting for the first certificate (the root pin
# and the first certificate come after deploy); unhealthy when credentials
# were refused with none loaded, the certificate expired, nginx is not
# running, or the stats went stale (the entry process is stuck). Shell
# builtins, `date` and `stat`: nothing that can block.
S=${STATS_FILE:-/tmp/mtls-stats.json}
stats=''
{ IFS= read -r stats || [ -n "$stats" ]; } 2>/dev/null <"$S" || { echo "starting: no stats file $S yet"; exit 1; }
# field NAME: a string field of the stats into $v ('' when absent).
field() { v=''; case $stats in *"\"$1\":\""*) v=${stats#*"\"$1\":\""}; v=${v%%\"*} ;; esac; }
age=$(($(date +%s) - $(stat -c %Y "$S")))
[ "$age" -le 30 ] || { echo "unhealthy: stats not updated for ${age}s"; exit 1; }
field state; state=$v
field lastError; err=$v
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
