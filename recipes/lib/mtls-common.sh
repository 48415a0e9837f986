# shellcheck shell=sh
# mtls-common.sh: what every shell script of the mesh needs, sourced, never
# run: JSON log lines, validation of names and ports, atomic small files, and
# the health checks' reading of a stats file. Scripts find it on PATH as they
# find mtls-trust (`. mtls-common.sh`): /usr/local/bin in the images,
# recipes/lib in the tests.
#
# POSIX sh and tools busybox also has (the curl image is Alpine), run by dash,
# busybox sh and bash. Under bash the hot helpers (timestamps, JSON strings)
# use builtins instead of processes: PostgreSQL's log filter formats a line at
# a time, and the renewer runs no process between renewals.
#
# A sourcing script sets LOG_COMPONENT, the `component` of its log lines.

# ---------- timestamps and JSON strings
# set_now: $NOW <- the time, ISO 8601 UTC with milliseconds (seconds where
# busybox's date has no %3N). set_now_ms: $NOW_MS <- epoch milliseconds.
# set_esc TEXT: $ESC <- TEXT as the inside of a JSON string: tab, CR and LF
# become spaces, other control characters go, quotes and backslashes are escaped.
# shellcheck disable=SC3003,SC3028,SC3043,SC3045,SC3060  # the bash branch is bash
if [ -n "${BASH_VERSION:-}" ]; then
  set_now() {
    local t="${EPOCHREALTIME/[.,]/}"
    TZ=UTC printf -v NOW '%(%Y-%m-%dT%H:%M:%S)T.%03dZ' "$((t / 1000000))" "$(((t / 1000) % 1000))"
  }
  set_now_ms() { local t="${EPOCHREALTIME/[.,]/}"; NOW_MS=$((t / 1000)); }
  set_esc() {
    local s="$1"
    s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//[$'\t\r\n']/ }"; ESC="${s//[[:cntrl:]]/}"
  }
else
  # The formats are found on first use, so that sourcing the library runs nothing.
  TS_FORMAT=''
  ts_formats() {
    case $(date -u +%3N 2>/dev/null) in
      [0-9][0-9][0-9]) TS_FORMAT=+%Y-%m-%dT%H:%M:%S.%3NZ MS_FORMAT=+%s%3N ;;
      *) TS_FORMAT=+%Y-%m-%dT%H:%M:%SZ MS_FORMAT=+%s000 ;;
    esac
  }
  set_now() { [ -n "$TS_FORMAT" ] || ts_formats; NOW=$(date -u "$TS_FORMAT"); }
  set_now_ms() { [ -n "$TS_FORMAT" ] || ts_formats; NOW_MS=$(date -u "$MS_FORMAT"); }
  set_esc() { ESC=$(printf '%s' "$1" | tr '\t\r\n' '   ' | tr -d '\000-\037\177' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'); }
fi
# now, now_ms, json_escape TEXT: the same, printed.
now() { set_now; printf '%s' "$NOW"; }
now_ms() { set_now_ms; printf '%s' "$NOW_MS"; }
json_escape() { set_esc "$1"; printf '%s' "$ESC"; }
# ms_to_s MS: milliseconds as the seconds `sleep` takes (1500 -> 1.500).
ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
# nap SECONDS: a sleep a trap interrupts at once (the trap runs, not after the sleep).
nap() { sleep "$1" & wait $!; }

# ---------- JSON log lines
# log_from COMPONENT LEVEL MSG [KEY VALUE]...: one JSON line on stdout,
# {"ts","level","component","msg",KEY...}, every value a string. The level,
# component and keys are the script's own words; MSG and values may be anything.
log_from() {
  set_now; set_esc "$3"
  _log="{\"ts\":\"$NOW\",\"level\":\"$2\",\"component\":\"$1\",\"msg\":\"$ESC\""
  shift 3
  while [ $# -ge 2 ]; do set_esc "$2"; _log="$_log,\"$1\":\"$ESC\""; shift 2; done
  printf '%s}\n' "$_log"
}
# log LEVEL MSG [KEY VALUE]...: a line from $LOG_COMPONENT.
log() { log_from "${LOG_COMPONENT:-mtls}" "$@"; }

# write_atomic FILE TEXT: FILE holds TEXT and a newline, replaced by rename
# (readers never see half of it).
write_atomic() { printf '%s\n' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1"; }

# ---------- validation
# is_dns NAME: a DNS name (letters, digits, inner hyphens; labels of 1-63).
# grep matches line by line: a value with a newline is refused first.
is_dns() {
  case $1 in *'
'*) return 1 ;; esac
  printf '%s' "$1" | grep -Eqx '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*'
}
# is_port VALUE: a TCP port, 1-65535, decimal digits only.
is_port() { case $1 in '' | *[!0-9]*) return 1 ;; esac; [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
# is_ms VALUE: a number of milliseconds, 0 to a day.
is_ms() { case $1 in '' | *[!0-9]*) return 1 ;; esac; [ "${#1}" -le 8 ] && [ "$1" -le 86400000 ]; }
# decimal VALUE: VALUE (digits) without leading zeros, so $((...)) does not read it as octal.
decimal() { set -- "${1#"${1%%[!0]*}"}"; printf '%s' "${1:-0}"; }

# ---------- the health checks: one line of stats, read without a process
# read_stats FILE: the first line of FILE into $stats; fails when there is none.
read_stats() { stats=''; { IFS= read -r stats || [ -n "$stats" ]; } 2>/dev/null <"$1"; }
# field NAME / num NAME: a string / number field of $stats into $v ('' when
# absent). Under bash a string keeps its escaped quotes and backslashes
# (unescaped); in sh it ends at the first quote.
# shellcheck disable=SC3010,SC3028,SC3043,SC3054,SC3060  # the bash branch is bash
if [ -n "${BASH_VERSION:-}" ]; then
  field() {
    local re='"'"$1"'":"(([^"\\]|\\.)*)"'
    v=''
    if [[ "$stats" =~ $re ]]; then v="${BASH_REMATCH[1]//\\\"/\"}"; v="${v//\\\\/\\}"; fi
  }
else
  field() { v=''; case $stats in *"\"$1\":\""*) v=${stats#*"\"$1\":\""}; v=${v%%\"*} ;; esac; }
fi
num() { v=''; case $stats in *"\"$1\":"[0-9]*) v=${stats#*"\"$1\":"}; v=${v%%[!0-9]*} ;; esac; }
# fresh_stats FILE: $stats, $state and $err (lastError) from FILE, a loop's
# stats rewritten at least every few seconds; otherwise prints the health
# line (`starting:` without a file, `unhealthy:` when over 30 s old) and fails.
# shellcheck disable=SC2034  # state and err are for the sourcing script
fresh_stats() {
  read_stats "$1" || { echo "starting: no stats file $1 yet"; return 1; }
  _age=$(($(date +%s) - $(stat -c %Y "$1")))
  [ "$_age" -le 30 ] || { echo "unhealthy: stats not updated for ${_age}s"; return 1; }
  field state; state=$v
  field lastError; err=$v
}
