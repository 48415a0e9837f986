# shellcheck shell=bash
# The stats file of both Redis roles (recipes/README.md, "Stats"), sourced by
# mtls-redis and mtls-redis-client after mariadb-credentials.sh (SERIAL,
# NOT_AFTER, RELOADS, FAILED_RELOADS, LAST_RELOAD_AT, LAST_ERROR) and
# mtls-common.sh (set_now, set_esc, write_atomic). Each role's write_stats
# is: stats_write TECHNOLOGY ROLE REQUESTS_JSON.
STATE=waiting PHASE=''
stats_write() {
  local s
  set_now
  s="{\"technology\":\"$1\",\"role\":\"$2\",\"state\":\"$STATE\""
  if [ -n "$PHASE" ]; then set_esc "$PHASE"; s+=",\"phase\":\"$ESC\""; fi
  s+="${SERIAL:+,\"serial\":\"$SERIAL\"}${NOT_AFTER:+,\"notAfter\":\"$NOT_AFTER\"}"
  s+=",\"reloads\":$RELOADS,\"failedReloads\":$FAILED_RELOADS${LAST_RELOAD_AT:+,\"lastReloadAt\":\"$LAST_RELOAD_AT\"},\"requests\":$3"
  if [ -n "$LAST_ERROR" ]; then set_esc "$LAST_ERROR"; s+=",\"lastError\":\"$ESC\""; fi
  write_atomic "$STATS_FILE" "$s,\"updatedAt\":\"$NOW\"}"
}

# stop_with MESSAGE VALUE: a configuration error, logged; the script exits 1.
stop_with() {
  log error "$1" value "$2"
  exit 1
}
