# shellcheck shell=bash
# shellcheck disable=SC2154  # STATE_FILE, BEAT_FILE, STUCK_AFTER_SECONDS: set by renewer.sh
# The renewer's Docker health check (`mtls-renewer health`), sourced by
# renewer.sh: reads the state file and the heartbeat the loop writes, runs
# no process.

iso() { printf -v ISO '%(%Y-%m-%dT%H:%M:%SZ)T' "$1"; } # ISO <- epoch seconds

# ---------- the health check: reads the state file, runs nothing
# One line, first word for the deployment: `ready:` (a valid, verified pair
# and a live loop), `waiting:` (no certificate yet: enrollment comes after
# deploy), `starting:`, or `unhealthy:` with the reason.
health() {
  local k v phase='' serial='' not_after='' renew_at='' since='' detail='' beat=''
  if [ ! -e "$STATE_FILE" ]; then echo "starting: the renewal loop has not written $STATE_FILE yet"; return 1; fi
  while IFS='=' read -r k v; do
    case "$k" in
      phase) phase="$v" ;; serial) serial="$v" ;; not_after) not_after="$v" ;;
      renew_at) renew_at="$v" ;; since) since="$v" ;; detail) detail="$v" ;;
    esac
  done <"$STATE_FILE"
  # The loop rewrites the beat in place: an empty read is a write in progress.
  read -r beat 2>/dev/null <"$BEAT_FILE" || read -r beat 2>/dev/null <"$BEAT_FILE"
  if [[ "$beat" =~ ^[0-9]+$ ]] && ((EPOCHSECONDS - beat > STUCK_AFTER_SECONDS)); then
    iso "$beat"; echo "unhealthy: the renewal loop is stuck: no heartbeat since $ISO"; return 1
  fi
  case "$phase" in
    waiting) echo "waiting: ${detail:-no certificate yet}"; return 1 ;;
    unusable) echo "unhealthy: unusable: $detail; renewal is impossible until the workload is enrolled again (enroll --force)"; return 1 ;;
    ok | failing)
      [[ "$not_after" =~ ^[0-9]+$ ]] || { echo "unhealthy: ${detail:-no certificate details in $STATE_FILE}"; return 1; }
      iso "$not_after"
      if ((EPOCHSECONDS >= not_after)); then
        echo "unhealthy: certificate $serial expired at $ISO${detail:+; $detail}"; return 1
      fi
      local line="ready: certificate $serial valid until $ISO"
      if [ "$phase" = failing ]; then
        iso "$since"; line+="; renewal failing since $ISO: $detail"
      else
        iso "$renew_at"; line+="; renews at about $ISO${detail:+; $detail}"
      fi
      echo "$line"; return 0 ;;
    *) echo "unhealthy: $STATE_FILE has no known phase (${phase:-empty})"; return 1 ;;
  esac
}
