#!/bin/bash
# Renewer sidecar (the autocert pattern): waits until enrollment has written a
# certificate into $CERT_DIR, then keeps it fresh over mTLS once about 2/3 of
# its lifetime has passed, with jitter so a fleet does not renew in lock-step.
#
# Every renewal is a rekey (`step ca rekey`): a new key pair is made here and
# the current certificate authenticates the request, so a copy of an old
# site.key stops matching anything as soon as its certificate expires.
#
# Files change only by rename (atomic on one file system), in an order a
# reader can survive and a crash can finish:
#   1. step writes the new pair to .staged.site.{crt,key};
#   2. both are validated (chain, validity, key matches certificate);
#   3. rename to .next.site.key, then .next.site.crt: the commit point;
#   4. rename .next.site.key -> site.key, then .next.site.crt -> site.crt.
# After a crash, a .next.site.crt means "finish steps 4"; anything else staged
# is discarded and the old pair, untouched, is still in place. Between the two
# renames of step 4 a reader can see the new key with the old certificate: the
# apps reject a pair whose key does not match and retry, and the second rename
# follows at once.
#
# Why not `step ca renew --daemon`: after a failed renewal the daemon waits a
# fixed minute before trying again, and it keeps the certificate it loaded in
# memory. With minute-scale certificates one failed attempt (a CA restart)
# then outlives the certificate, and a re-enrollment is ignored. This loop
# re-reads the files every time, treats every unexpected exit code as a
# failure, and retries with a short backoff.
#
# Idle cost: the pair is verified (three `step` runs) only when the files
# change, and the renewal time is computed once per certificate; in between
# the loop looks for changes every CHECK_INTERVAL_SECONDS with bash's own file
# tests, takes a full signature (one `stat`) every FULL_CHECK_SECONDS, and
# sleeps in bash itself. It writes what it knows to
# $STATE_FILE, and the health check (`mtls-renewer health`) only reads that
# file: no `step` process, nothing that can block.
set -uo pipefail
umask 077
# Every time this script prints or computes is UTC.
export TZ=UTC
CERT_DIR="${CERT_DIR:-/var/run/step}"
CERT="$CERT_DIR/site.crt"
KEY="$CERT_DIR/site.key"
ROOT="$CERT_DIR/root.crt"
STAGED_CERT="$CERT_DIR/.staged.site.crt"
STAGED_KEY="$CERT_DIR/.staged.site.key"
NEXT_CERT="$CERT_DIR/.next.site.crt"
NEXT_KEY="$CERT_DIR/.next.site.key"
# The last certificate that validated with site.key, kept outside the volume:
# if site.crt is damaged while the key is intact, it still authenticates a rekey.
LAST_GOOD="${LAST_GOOD:-/tmp/last-good.crt}"
# What the loop knows (key=value lines, replaced by rename), for the health
# check and `npm run status`; the loop's heartbeat (epoch seconds) beside it.
STATE_FILE="${STATE_FILE:-/tmp/renewer.state}"
BEAT_FILE="$STATE_FILE.beat"
CHECK_INTERVAL_SECONDS="${CHECK_INTERVAL_SECONDS:-2}"
MAX_BACKOFF_SECONDS="${MAX_BACKOFF_SECONDS:-16}"
RENEW_TIMEOUT_SECONDS="${RENEW_TIMEOUT_SECONDS:-20}"
# How long an install waits for an enrollment's install (two renames) to finish.
LOCK_TIMEOUT_SECONDS="${LOCK_TIMEOUT_SECONDS:-10}"
# A heartbeat older than this means the loop is stuck: its longest step is a
# rekey (bounded by RENEW_TIMEOUT_SECONDS) plus three validations and a backoff.
STUCK_AFTER_SECONDS="${STUCK_AFTER_SECONDS:-$((RENEW_TIMEOUT_SECONDS * 2 + MAX_BACKOFF_SECONDS + 30))}"

# The health check and the certificate operations, each in its own file beside this one.
# shellcheck source=images/step-ca/renewer-health.sh
. "${BASH_SOURCE[0]%/*}/renewer-health.sh"
# shellcheck source=images/step-ca/renewer-certs.sh
. "${BASH_SOURCE[0]%/*}/renewer-certs.sh"
if [ "${1:-}" = health ]; then health; exit; fi

# JSON log lines (log LEVEL MSG), shared with the recipes' shell scripts; found
# on PATH (/usr/local/bin in the image, recipes/lib in the tests).
LOG_COMPONENT=renewer
# shellcheck source=recipes/lib/mtls-common.sh
. mtls-common.sh

# ---------- what the loop knows, written for the health check
PHASE=waiting SERIAL='' NOT_AFTER='' RENEW_AT='' SINCE='' DETAIL='' SIG=''
write_state() {
  printf 'phase=%s\nserial=%s\nnot_after=%s\nrenew_at=%s\nsince=%s\ndetail=%s\n' \
    "$PHASE" "$SERIAL" "$NOT_AFTER" "$RENEW_AT" "$SINCE" "${DETAIL//$'\n'/ }" >"$STATE_FILE.tmp" \
    && mv -f "$STATE_FILE.tmp" "$STATE_FILE"
}
# Rewritten in place (no rename, no process): the reader retries an empty read.
beat() { printf '%s\n' "$EPOCHSECONDS" 2>/dev/null >"$BEAT_FILE" || true; }
# Sleeps in bash (a timed read on a pipe nobody writes to): no `sleep`
# process per tick, and the TERM trap still runs at once.
exec {NAP_FD}<> <(:)
nap() { beat; read -rt "$1" -u "$NAP_FD" _ || true; }

# Finishes a commit a crash interrupted, or discards an unfinished renewal.
# Only when something is left over (bash's own tests, no process per tick),
# and then under the install lock: an enrollment installing a pair at that
# moment uses the same staging names and finishes first.
recover() {
  if [ -e "$NEXT_CERT" ] || [ -e "$STAGED_CERT" ] || [ -e "$STAGED_KEY" ] || [ -e "$NEXT_KEY" ]; then
    (take_install_lock && recover_locked) || return 1
  fi
}
recover_locked() {
  if [ -e "$NEXT_CERT" ]; then
    if [ -e "$NEXT_KEY" ]; then mv -f "$NEXT_KEY" "$KEY" || return 1; fi
    mv -f "$NEXT_CERT" "$CERT" || return 1
    log info "finished a renewal that was interrupted after its commit point"
  fi
  if [ -e "$STAGED_CERT" ] || [ -e "$STAGED_KEY" ] || [ -e "$NEXT_KEY" ]; then rm -f "$STAGED_CERT" "$STAGED_KEY" "$NEXT_KEY"; fi
}

# `mtls-renewer recover`: only the crash recovery the loop runs at start.
if [ "${1:-}" = recover ]; then recover; exit; fi
: "${CA_URL:?CA_URL must point at the CA, e.g. https://ca.mesh.internal:9000}"

# The files' signature (pair_signature): a change means "verify again".
# Between signatures the loop looks for a change with bash's own tests, no
# process: a file missing, or not older than the mark, which is touched just
# before each signature (so a write during a check counts; a write in the
# same clock tick as the mark counts too). A full signature at least every
# FULL_CHECK_SECONDS also catches a file renamed in with an old mtime.
FULL_CHECK_SECONDS="${FULL_CHECK_SECONDS:-30}"
MARK="$STATE_FILE.mark"
next_full=0
signature() {
  : >"$MARK"
  next_full=$((EPOCHSECONDS + FULL_CHECK_SECONDS))
  SIG=$(pair_signature)
}
looks_changed() {
  [ ! -s "$CERT" ] || [ ! -s "$KEY" ] || [ ! "$MARK" -nt "$CERT" ] || [ ! "$MARK" -nt "$KEY" ] || ((EPOCHSECONDS >= next_full))
}

# Enrollment writes the key and the certificate one after the other: a check
# that fails while the files are still changing is not reported, only repeated.
settled_check() {
  local before="$SIG"
  PROBLEM=$(check_pair "$CERT" "$KEY") && return 0
  read -rt 0.5 -u "$NAP_FD" _
  signature
  [ "$SIG" = "$before" ] && return 1
  return 2
}

# The verified pair on disk becomes the one this loop keeps: its serial, its
# validity and its renewal time, drawn once per certificate at 62-66 % of the
# lifetime (the jitter that keeps a fleet from renewing in lock-step).
adopt() {
  inspect "$CERT" || return 1
  RENEW_AT=$((NOT_BEFORE + (NOT_AFTER - NOT_BEFORE) * (62 + RANDOM % 5) / 100))
  cp -f "$CERT" "$LAST_GOOD.tmp" && mv -f "$LAST_GOOD.tmp" "$LAST_GOOD"
  checked="$SIG"
}

trap 'log info "stopping"; exit 0' TERM INT

# Enrollment is a separate, explicit step (scripts/enroll.ts); until it has run
# there is nothing to renew. A cheap poll keeps this independent of ordering.
recover
if ! { [ -s "$CERT" ] && [ -s "$KEY" ] && [ -s "$ROOT" ]; }; then
  log info "waiting for enrollment to write $CERT"
  PHASE=waiting DETAIL="no certificate yet: enrollment (npm run enroll) writes site.crt and site.key"
  write_state
  until [ -s "$CERT" ] && [ -s "$KEY" ] && [ -s "$ROOT" ]; do
    nap "$CHECK_INTERVAL_SECONDS"
    recover
  done
fi
log info "certificate present; rekeying at about 2/3 of its lifetime against $CA_URL"

backoff=1
failing=""
failing_serial=""
checked=""
renewed=""
fail() {
  # A failure is logged once per distinct reason, then retried with backoff.
  if [ "$failing" != "$1" ]; then
    log error "$1; retrying with backoff up to ${MAX_BACKOFF_SECONDS}s"
    failing="$1" failing_serial="$SERIAL" SINCE=$EPOCHSECONDS
  fi
  PHASE=failing DETAIL="$1"
  write_state
  nap "$backoff"
  backoff=$((backoff * 2 > MAX_BACKOFF_SECONDS ? MAX_BACKOFF_SECONDS : backoff * 2))
}
succeed() {
  [ -n "$failing" ] && log info "recovered: $1"
  failing=""
  backoff=1
  PHASE=ok DETAIL="$renewed"
  write_state
}
# After a successful rekey: the new pair was validated before it was installed.
installed() {
  signature
  if ! adopt; then checked=""; fail "$PROBLEM"; return; fi
  printf -v renewed 'last renewed at %(%Y-%m-%dT%H:%M:%SZ)T' -1
  log info "$1; serial $SERIAL"
  succeed "$1"
}

while true; do
  recover || { fail "could not finish an interrupted renewal in $CERT_DIR"; continue; }
  looks_changed && signature
  if [ "$SIG" != "$checked" ]; then
    settled_check
    case $? in
      2) continue ;;
      0)
        if ! adopt; then fail "$PROBLEM"; continue; fi
        # A failed renewal is over when a renewal succeeds or another
        # certificate arrives (enroll --force); anything else is over now.
        if [ -n "$failing" ] && [[ "$failing" == "renewal failed"* ]] && [ "$SERIAL" = "$failing_serial" ]; then
          write_state
        else
          succeed "certificate $SERIAL in use"
        fi
        ;;
      *)
        if [ -s "$LAST_GOOD" ] && check_pair "$LAST_GOOD" "$KEY" >/dev/null; then
          # site.crt is damaged but the key is intact and the last good
          # certificate still valid: rekey with that and replace both.
          log error "$PROBLEM; rekeying with the last good certificate"
          why=$(rekey "$LAST_GOOD")
          case $? in
            0) installed "replaced the damaged certificate" ;;
            2) log info "$why; keeping it" ;;
            *) fail "$PROBLEM; rekeying with the last good certificate failed: $why" ;;
          esac
          continue
        fi
        # Nothing here can authenticate a renewal: an operator must re-enroll.
        # The verdict stands until the files change.
        if [ "$failing" != "unusable: $PROBLEM" ]; then
          log error "$PROBLEM; renewal is impossible until the workload is enrolled again (enroll --force)"
          failing="unusable: $PROBLEM"
          PHASE=unusable DETAIL="$PROBLEM"
          write_state
        fi
        checked="$SIG"
        ;;
    esac
  fi
  if [ "$PHASE" = unusable ] || ((EPOCHSECONDS < RENEW_AT)); then
    nap_s=$((RENEW_AT - EPOCHSECONDS))
    ((nap_s > CHECK_INTERVAL_SECONDS || nap_s < 1)) && nap_s=$CHECK_INTERVAL_SECONDS
    nap "$nap_s"
    continue
  fi
  why=$(rekey "$CERT")
  case $? in
    0) installed "certificate rekeyed" ;;
    2)
      # Not a failure: the next pass verifies and adopts the new pair.
      log info "$why; keeping it"
      checked=""
      ;;
    *)
      checked=""
      fail "renewal failed: $why"
      ;;
  esac
done
