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
set -uo pipefail
umask 077
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
# What the loop knows, for the health check and for `npm run status`.
STATE_FILE="${STATE_FILE:-/tmp/renewer.state}"
CHECK_INTERVAL_SECONDS="${CHECK_INTERVAL_SECONDS:-2}"
MAX_BACKOFF_SECONDS="${MAX_BACKOFF_SECONDS:-16}"
RENEW_TIMEOUT_SECONDS="${RENEW_TIMEOUT_SECONDS:-20}"

log() { printf '{"ts":"%s","level":"%s","component":"renewer","msg":"%s"}\n' "$(date -u +%FT%TZ)" "$1" "$(printf '%s' "$2" | tr -d '"\\' | tr '\n' ' ')"; }

# A one-line reason from step's error output.
reason_of() { printf '%s' "$1" | grep -v '^Re-run with' | grep -v '^[[:space:]]*$' | tail -n 1 | tr -d '"\\'; }

# The certificate and key validate together: the chain verifies against the
# root (validity included) and the key is the certificate's key.
# Prints the problem and fails otherwise.
check_pair() {
  local cert="$1" key="$2" out cert_pub key_pub
  [ -s "$cert" ] || { echo "$(basename "$cert") is missing or empty"; return 1; }
  [ -s "$key" ] || { echo "$(basename "$key") is missing or empty"; return 1; }
  if ! out=$(step certificate verify "$cert" --roots "$ROOT" 2>&1); then
    echo "$(basename "$cert") is unusable: $(reason_of "$out")"
    return 1
  fi
  cert_pub=$(step certificate key "$cert" 2>/dev/null) || { echo "$(basename "$cert") has no readable public key"; return 1; }
  key_pub=$(step crypto key public "$key" 2>/dev/null) || { echo "$(basename "$key") is unusable: not a readable private key"; return 1; }
  [ "$cert_pub" = "$key_pub" ] || { echo "$(basename "$key") does not match $(basename "$cert")"; return 1; }
}

# Docker health check: healthy while waiting for enrollment (no certificate and
# no key yet), and afterwards only while the pair on disk is usable. The
# output is the reason; `npm run status` shows it with the recovery command.
if [ "${1:-}" = health ]; then
  if [ ! -e "$CERT" ] && [ ! -e "$KEY" ]; then echo "waiting for enrollment"; exit 0; fi
  # A check that overlaps an install (key renamed first, then the
  # certificate) can read the old certificate and the new key: that is a
  # renewal in progress, not damage. Look again before calling it unusable.
  for attempt in 1 2 3; do
    problem=$(check_pair "$CERT" "$KEY") && break
    case "$problem" in *"does not match"*) [ "$attempt" -lt 3 ] && sleep 0.4 && continue ;; esac
    break
  done
  if [ -n "$problem" ]; then echo "unusable: $problem"; exit 1; fi
  state=$(cat "$STATE_FILE" 2>/dev/null || true)
  case "$state" in ok*) echo "$state" ;; failing*|renewed*) echo "ok; $state" ;; *) echo ok ;; esac
  exit 0
fi

set_state() { printf '%s\n' "$*" >"$STATE_FILE.tmp" && mv -f "$STATE_FILE.tmp" "$STATE_FILE"; }

# Finishes a commit a crash interrupted, or discards an unfinished renewal.
recover() {
  if [ -e "$NEXT_CERT" ]; then
    if [ -e "$NEXT_KEY" ]; then mv -f "$NEXT_KEY" "$KEY" || return 1; fi
    mv -f "$NEXT_CERT" "$CERT" || return 1
    log info "finished a renewal that was interrupted after its commit point"
  fi
  rm -f "$STAGED_CERT" "$STAGED_KEY" "$NEXT_KEY"
}

# Rekeys with the given certificate (site.crt, or the last good copy) and
# site.key, and installs the new pair. Prints the failure reason.
rekey() {
  local from="$1" out problem
  rm -f "$STAGED_CERT" "$STAGED_KEY"
  # A CA that accepts the connection and never answers must not stall the loop.
  if ! out=$(timeout "$RENEW_TIMEOUT_SECONDS" step ca rekey "$from" "$KEY" --out-cert "$STAGED_CERT" --out-key "$STAGED_KEY" \
    --kty EC --curve P-256 --force --ca-url "$CA_URL" --root "$ROOT" 2>&1); then
    rm -f "$STAGED_CERT" "$STAGED_KEY"
    reason_of "${out:-no answer from the CA within ${RENEW_TIMEOUT_SECONDS}s}"
    return 1
  fi
  if ! problem=$(check_pair "$STAGED_CERT" "$STAGED_KEY"); then
    rm -f "$STAGED_CERT" "$STAGED_KEY"
    echo "the CA's answer did not validate: $problem"
    return 1
  fi
  mv -f "$STAGED_KEY" "$NEXT_KEY" && mv -f "$STAGED_CERT" "$NEXT_CERT" || { echo "could not stage the new pair in $CERT_DIR"; return 1; }
  mv -f "$NEXT_KEY" "$KEY" && mv -f "$NEXT_CERT" "$CERT" || { echo "could not install the new pair in $CERT_DIR"; return 1; }
}

# `mtls-renewer recover`: only the crash recovery the loop runs at start.
if [ "${1:-}" = recover ]; then recover; exit; fi
: "${CA_URL:?CA_URL must point at the CA, e.g. https://ca.mesh.internal:9000}"

serial_of() { step certificate inspect "$1" --format json 2>/dev/null | grep -o '"serial_number": *"[0-9]*"' | grep -o '[0-9]*' | head -n 1; }

announced=0
# Enrollment is a separate, explicit step (scripts/enroll.ts); until it has run
# there is nothing to renew. A cheap poll keeps this independent of ordering.
recover
until [ -s "$CERT" ] && [ -s "$KEY" ] && [ -s "$ROOT" ]; do
  if [ "$announced" = 0 ]; then log info "waiting for enrollment to write $CERT"; set_state "waiting for enrollment"; announced=1; fi
  sleep 2
  recover
done
log info "certificate present; rekeying at about 2/3 of its lifetime against $CA_URL"

trap 'log info "stopping"; exit 0' TERM INT
backoff=1
failing=""
checked=""
pause() { sleep "$1" & wait $!; }
fail() {
  # A failure is logged once per distinct reason, then retried with backoff.
  if [ "$failing" != "$1" ]; then log error "$1; retrying with backoff up to ${MAX_BACKOFF_SECONDS}s"; failing="$1"; fi
  set_state "failing since $(date -u +%FT%TZ): $1"
  pause "$backoff"
  backoff=$(( backoff * 2 > MAX_BACKOFF_SECONDS ? MAX_BACKOFF_SECONDS : backoff * 2 ))
}
succeed() {
  [ -n "$failing" ] && log info "recovered: $1"
  failing=""
  backoff=1
  set_state "$1"
}
renewed_at=

while true; do
  recover || { fail "could not finish an interrupted renewal in $CERT_DIR"; continue; }
  # Validate the pair whenever the files change (inode, size, mtime).
  sig=$(stat -c '%i:%s:%Y' "$CERT" "$KEY" 2>/dev/null | tr '\n' ' ')
  if [ "$sig" != "$checked" ]; then
    if problem=$(check_pair "$CERT" "$KEY"); then
      cp -f "$CERT" "$LAST_GOOD.tmp" && mv -f "$LAST_GOOD.tmp" "$LAST_GOOD"
      checked="$sig"
      if [[ "$failing" == unusable:* ]]; then succeed "certificate usable again (enrolled anew)"; fi
    elif [ -s "$LAST_GOOD" ] && check_pair "$LAST_GOOD" "$KEY" >/dev/null; then
      # site.crt is damaged but the key is intact and the last good
      # certificate still valid: rekey with that and replace both.
      log error "$problem; rekeying with the last good certificate"
      if why=$(rekey "$LAST_GOOD"); then
        log info "replaced the damaged certificate; serial $(serial_of "$CERT")"
        renewed_at=$(date -u +%FT%TZ)
        succeed "renewed at $renewed_at"
        continue
      fi
      fail "$problem; rekeying with the last good certificate failed: $why"
      continue
    else
      # Nothing here can authenticate a renewal: an operator must re-enroll.
      if [ "$failing" != "unusable: $problem" ]; then log error "$problem; renewal is impossible until the workload is enrolled again (enroll --force)"; fi
      failing="unusable: $problem"
      set_state "unusable: $problem"
      pause "$CHECK_INTERVAL_SECONDS"
      continue
    fi
  fi
  # needs-renewal's percentage is the share of the lifetime already ELAPSED;
  # the threshold is drawn anew at every check (the jitter). Exit codes: 0
  # renew, 1 not yet, anything else is a failure to understand the file.
  out=$(step certificate needs-renewal "$CERT" --expires-in "$((62 + RANDOM % 5))%" 2>&1)
  rc=$?
  case "$rc" in
    1)
      # A check that failed before now reads the file: that failure is over.
      # (A failed renewal is over only when a renewal succeeds.)
      if [[ "$failing" == needs-renewal* ]]; then succeed "ok"; fi
      [ -n "$failing" ] || set_state "ok${renewed_at:+; last renewed at $renewed_at}"
      pause "$CHECK_INTERVAL_SECONDS"
      continue ;;
    0) ;;
    *) checked=""; reason=$(reason_of "$out"); fail "needs-renewal exited $rc${reason:+: $reason}"; continue ;;
  esac
  if why=$(rekey "$CERT"); then
    log info "certificate rekeyed; serial $(serial_of "$CERT")"
    renewed_at=$(date -u +%FT%TZ)
    succeed "renewed at $renewed_at"
  else
    checked=""
    fail "renewal failed: $why"
  fi
done
