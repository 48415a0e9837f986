#!/bin/sh
# mtls-curl: an mTLS client loop. Every REQUEST_INTERVAL_MS it calls
# https://$EXPECTED_SERVER_IDENTITY:$TARGET_PORT/ (connected to $TARGET_HOST)
# with curl, presenting $CERT_DIR/site.crt and site.key and trusting only the
# private trust file that mtls-trust builds from root.crt (pinned roots only).
# curl reads the files on every call: that is its reload. Until
# the first successful call, a server that cannot be reached is still
# starting: the call is retried (start-up retries, not failures) for up to
# STARTUP_RETRY_BUDGET_MS.
# POSIX sh and tools busybox also has (the official image is Alpine).
set -u
umask 077

CERT_DIR=${CERT_DIR:-/var/run/step}
ROOT_PIN_FILE=${ROOT_PIN_FILE:-}
STATS_FILE=${STATS_FILE:-/tmp/mtls-stats.json}
TARGET_HOST=${TARGET_HOST:-}
TARGET_PORT=${TARGET_PORT:-8443}
EXPECTED_SERVER_IDENTITY=${EXPECTED_SERVER_IDENTITY:-$TARGET_HOST}
REQUEST_INTERVAL_MS=${REQUEST_INTERVAL_MS:-500}
STARTUP_RETRY_BUDGET_MS=${STARTUP_RETRY_BUDGET_MS:-30000}
FAILING_AFTER=3 # consecutive failed calls before the state is "failing"
RUN=/tmp/mtls-curl
TRUST=$RUN/trust/root.crt # the private trust file (recipes/README.md, "Trust file")

# shellcheck source=recipes/lib/mtls-common.sh
. mtls-common.sh
LOG_COMPONENT=mtls-curl
bad_config() { log error "bad configuration: $1" variable "$2"; exit 2; }

[ -n "$ROOT_PIN_FILE" ] || bad_config 'ROOT_PIN_FILE is required (curl only calls with a pinned root)' ROOT_PIN_FILE
case $CERT_DIR in *:*) bad_config 'CERT_DIR must not contain ":" (curl reads --cert FILE:PASSWORD)' CERT_DIR ;; esac
is_dns "$TARGET_HOST" || bad_config 'TARGET_HOST must be a DNS name' TARGET_HOST
is_port "$TARGET_PORT" || bad_config 'TARGET_PORT must be a port' TARGET_PORT
is_dns "$EXPECTED_SERVER_IDENTITY" ||
  bad_config 'EXPECTED_SERVER_IDENTITY must be a DNS name: curl checks the DNS SAN and cannot check a URI SAN' EXPECTED_SERVER_IDENTITY
is_port "$REQUEST_INTERVAL_MS" || bad_config 'REQUEST_INTERVAL_MS must be a number of milliseconds' REQUEST_INTERVAL_MS
is_ms "$STARTUP_RETRY_BUDGET_MS" ||
  bad_config 'STARTUP_RETRY_BUDGET_MS must be a number of milliseconds (0-86400000)' STARTUP_RETRY_BUDGET_MS
STARTUP_RETRY_BUDGET_MS=$(decimal "$STARTUP_RETRY_BUDGET_MS")
INTERVAL=$(ms_to_s "$REQUEST_INTERVAL_MS")

# curl checks the name in the URL: the expected identity. When the target is
# another name for the same server, connect there without changing the check.
URL="https://$EXPECTED_SERVER_IDENTITY:$TARGET_PORT/"
CONNECT_TO=''
[ "$TARGET_HOST" = "$EXPECTED_SERVER_IDENTITY" ] ||
  CONNECT_TO="--connect-to $EXPECTED_SERVER_IDENTITY:$TARGET_PORT:$TARGET_HOST:$TARGET_PORT"

# shellcheck disable=SC2015  # the handler is meant to run when either step fails
rm -rf "$RUN" && mkdir -p "$RUN/no-ca-dir" || { log error "cannot create $RUN"; exit 1; }

state=waiting ok=0 failed=0 retries=0 startup_retries=0 consecutive=0 reloads=0 failed_reloads=0
last_error='' last_reload_at='' last_ok_at='' serial='' not_after=''
used_sum='' trust_key='' refused_key='' cpid=''

write_stats() {
  extra=''
  [ -n "$serial" ] && extra="$extra\"serial\":\"$serial\","
  [ -n "$not_after" ] && extra="$extra\"notAfter\":\"$not_after\","
  [ -n "$last_reload_at" ] && extra="$extra\"lastReloadAt\":\"$last_reload_at\","
  [ -n "$last_ok_at" ] && extra="$extra\"lastOkAt\":\"$last_ok_at\","
  [ -n "$last_error" ] && extra="$extra\"lastError\":\"$(json_escape "$last_error")\","
  write_atomic "$STATS_FILE" "{\"technology\":\"curl\",\"role\":\"client\",\"state\":\"$state\",$extra\"reloads\":$reloads,\"failedReloads\":$failed_reloads,\"requests\":{\"ok\":$ok,\"failed\":$failed,\"retries\":$retries,\"startupRetries\":$startup_retries},\"consecutiveFailures\":$consecutive,\"updatedAt\":\"$(now)\"}"
}

# cert_info FILE: the first certificate's serial (upper-case hex, no leading
# zeros) and notAfter (ISO 8601), read from its DER without openssl, which the
# official image lacks. Informational only (stats and logs).
cert_info() {
  # shellcheck disable=SC2046 # one argument per byte (hex pairs)
  set -- $(sed -n '/^-----BEGIN CERTIFICATE-----/,/^-----END CERTIFICATE-----/{/^-----BEGIN/d;/^-----END/q;p;}' "$1" |
    tr -d '\r' | base64 -d 2>/dev/null | head -c 1500 | od -An -v -tx1)
  step=0 s='' d=''
  while [ $# -ge 2 ]; do
    tag=$1 len=$((0x$2))
    shift 2
    case $len in
      129) [ $# -ge 1 ] || return 1; len=$((0x$1)); shift ;;
      130) [ $# -ge 2 ] || return 1; len=$((0x$1$2)); shift 2 ;;
      12[89] | 1[3-9][0-9] | 2[0-9][0-9]) return 1 ;;
    esac
    case $step:$tag in
      0:30 | 1:30 | 5:30) step=$((step + 1)); continue ;; # Certificate, tbsCertificate, validity: go inside
      2:a0) ;;                                               # [0] version: skip
      2:02)                                                  # serialNumber
        [ "$len" -le $# ] || return 1
        while [ "$len" -gt 0 ]; do s="$s$1"; shift; len=$((len - 1)); done
        step=3; continue ;;
      3:30 | 4:30 | 6:17 | 6:18) step=$((step + 1)) ;;         # signature, issuer, notBefore: skip
      7:17 | 7:18)                                           # notAfter: ASCII digits, then Z
        [ "$len" -le $# ] || return 1
        while [ "$len" -gt 0 ]; do case $1 in 3?) d="$d${1#3}" ;; esac; shift; len=$((len - 1)); done
        [ "$tag" = 17 ] && d="20$d" # UTCTime: years 2000-2049 in this mesh
        serial=$(printf '%s' "$s" | sed 's/^0*//' | tr 'a-f' 'A-F')
        not_after=$(printf '%s' "$d" | sed -n 's/^\(....\)\(..\)\(..\)\(..\)\(..\)\(..\)$/\1-\2-\3T\4:\5:\6.000Z/p')
        return 0 ;;
      *) return 1 ;;
    esac
    [ "$len" -le $# ] || return 1
    shift "$len"
  done
  return 1
}

# refresh_trust: rebuilds the private trust file curl is given ($TRUST) with
# mtls-trust (recipes/lib) when root.crt or the pin file changed. A refused
# root.crt leaves the trust file as it was (curl keeps calling with the roots
# checked last) and is logged once, with its reason. Sets $problem.
refresh_trust() {
  # What changed: root.crt's type and its first 64 KiB + 1 (as much as
  # mtls-trust reads), and the pin file. Only a cache key: mtls-trust reads
  # and checks the file itself.
  key="$(stat -c %F "$CERT_DIR/root.crt" 2>&1) $(head -c 65537 "$CERT_DIR/root.crt" 2>/dev/null | sha256sum) $(sha256sum <"$ROOT_PIN_FILE" 2>/dev/null)"
  if [ "$key" = "$trust_key" ]; then refused_key=''; return 0; fi
  [ "$key" = "$refused_key" ] && return 1
  if problem=$(mtls-trust "$CERT_DIR/root.crt" "$ROOT_PIN_FILE" "$TRUST" 2>&1 >/dev/null); then
    [ -n "$trust_key" ] && log info "trust file rebuilt from root.crt"
    trust_key=$key refused_key='' problem=''
    return 0
  fi
  problem=${problem:-mtls-trust failed}
  refused_key=$key failed_reloads=$((failed_reloads + 1)) last_error="root.crt refused: $problem"
  [ -f "$TRUST" ] && keep='keeping the roots checked last' || keep='no trust file yet'
  log warn "root.crt refused: $problem" reason "${problem%%:*}" trust "$keep"
  return 1
}

# One attempt. --cacert is the private trust file (pinned roots only); --capath an
# empty directory replaces libcurl's built-in CA directory (Debian's points at
# the system store); -q ignores any .curlrc; no proxy from the environment.
attempt() {
  # shellcheck disable=SC2086 # CONNECT_TO is empty or two words
  curl -q --silent --show-error --fail --noproxy '*' --proto =https --tlsv1.2 \
    --cacert "$TRUST" --capath "$RUN/no-ca-dir" \
    --cert "$CERT_DIR/site.crt" --key "$CERT_DIR/site.key" \
    --connect-timeout 3 --max-time 5 $CONNECT_TO --output /dev/null "$URL" 2>"$RUN/err" &
  cpid=$!
  wait "$cpid"
  rc=$?
  cpid=''
  return "$rc"
}

# unreachable: curl's last attempt did not reach the server at all: name not
# resolvable (6), refused (7), no connection before the timeout, or reset. A
# TLS or identity failure is not this: waiting does not heal it.
unreachable() {
  case $rc in
    6 | 7) return 0 ;;
    28) grep -q -e 'Connection timed out' -e 'Resolving timed out' -e 'Failed to connect' "$RUN/err" ;;
    35 | 56) grep -q 'Connection reset by peer' "$RUN/err" ;;
    *) return 1 ;;
  esac
}

fail_call() {
  failed=$((failed + 1)) consecutive=$((consecutive + 1)) last_error=$1
  [ "$consecutive" -ge "$FAILING_AFTER" ] && state=failing
  log warn "call failed" error "$1" consecutiveFailures "$consecutive"
}

one_call() {
  if ! [ -f "$CERT_DIR/root.crt" ] || ! [ -f "$CERT_DIR/site.crt" ] || ! [ -f "$CERT_DIR/site.key" ] || ! [ -f "$ROOT_PIN_FILE" ]; then
    # Before the first certificate this is enrollment still to come.
    [ "$state" = waiting ] && return 0
    fail_call "credential or pin files missing"
    return 1
  fi
  [ "$state" = waiting ] && state=calling
  if ! refresh_trust && ! [ -f "$TRUST" ]; then
    # No root.crt was ever accepted: there is nothing to trust, no call is made.
    fail_call "root.crt refused: $problem"
    return 1
  fi
  sum=$(cksum <"$CERT_DIR/site.crt")
  tries=0 started=$(now_ms) pause=200
  until attempt; do
    error="curl exit $rc: $(head -n 1 "$RUN/err" | head -c 300 | sed 's/^curl: ([0-9]*) //')"
    if [ "$ok" -eq 0 ] && unreachable; then
      # No call has succeeded yet: the server is most likely still starting.
      # Retry after 0.2 s, doubling up to 2 s, within the call's budget.
      if [ $(($(now_ms) - started + pause)) -gt "$STARTUP_RETRY_BUDGET_MS" ]; then
        fail_call "$error"
        return 1
      fi
      [ "$startup_retries" -eq 0 ] && log info "server not answering yet; retrying (start-up)" error "$error"
      startup_retries=$((startup_retries + 1))
      write_stats
      nap "$(ms_to_s "$pause")"
      pause=$((pause * 2))
      [ "$pause" -le 2000 ] || pause=2000
      continue
    fi
    # The renewer writes the key, then the certificate: for a moment curl can
    # read a new key with the old certificate. Retry shortly (3 times, ~3 s).
    # A refused connection after the first success is a failed call at once.
    tries=$((tries + 1))
    if [ "$rc" = 7 ] || [ "$tries" -gt 3 ]; then
      fail_call "$error"
      return 1
    fi
    retries=$((retries + 1))
    nap "$(ms_to_s $((tries * 500)))" # 0.5 s, 1 s, 1.5 s
  done
  ok=$((ok + 1)) last_ok_at=$(now)
  [ "$consecutive" -gt 0 ] && log info "calling again" afterFailedCalls "$consecutive"
  consecutive=0 state=calling
  if [ "$sum" != "$used_sum" ]; then
    cert_info "$CERT_DIR/site.crt" || serial='' not_after=''
    if [ -z "$used_sum" ]; then
      log info "calling" url "$URL" serial "$serial" notAfter "$not_after" startupRetries "$startup_retries"
    else
      reloads=$((reloads + 1)) last_reload_at=$last_ok_at
      log info reloaded serial "$serial" notAfter "$not_after"
    fi
    used_sum=$sum
  fi
}

stop() {
  log info "stopping" signal "$1"
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null
  write_stats
  exit 0
}
trap 'stop TERM' TERM
trap 'stop INT' INT

write_stats
log info "waiting for the first certificate and the root pin" certDir "$CERT_DIR" pinFile "$ROOT_PIN_FILE"
while :; do
  one_call
  write_stats
  nap "$INTERVAL"
done
