#!/bin/bash
# Renewer sidecar (the autocert pattern): waits until enrollment has written a
# certificate into $CERT_DIR, then keeps it fresh by renewing over mTLS
# (`step ca renew`: the current certificate authenticates the renewal) once
# about 2/3 of its lifetime has passed, with jitter so a fleet does not renew
# in lock-step.
#
# Why not `step ca renew --daemon`: after a failed renewal the daemon waits a
# fixed minute before trying again, and it keeps the certificate it loaded in
# memory. With minute-scale certificates one failed attempt (a CA restart, a
# DNS hiccup) then outlives the certificate, and a re-enrollment is ignored.
# This loop re-reads the files every time and retries with a short backoff.
set -euo pipefail
umask 077
CERT_DIR="${CERT_DIR:-/var/run/step}"
CERT="$CERT_DIR/site.crt"
KEY="$CERT_DIR/site.key"
ROOT="$CERT_DIR/root.crt"
CHECK_INTERVAL_SECONDS="${CHECK_INTERVAL_SECONDS:-2}"
MAX_BACKOFF_SECONDS="${MAX_BACKOFF_SECONDS:-16}"
: "${CA_URL:?CA_URL must point at the CA, e.g. https://ca.mesh.internal:9000}"

# Docker health check: healthy while waiting for enrollment, and afterwards
# only while the certificate on disk verifies against the root (not expired).
if [ "${1:-}" = health ]; then
  [ -s "$CERT" ] || exit 0
  exec step certificate verify "$CERT" --roots "$ROOT" >/dev/null
fi

log() { printf '{"ts":"%s","level":"%s","component":"renewer","msg":"%s"}\n' "$(date -u +%FT%TZ)" "$1" "$2"; }

announced=0
# Enrollment is a separate, explicit step (scripts/enroll.ts); until it has run
# there is nothing to renew. A cheap poll keeps this independent of ordering.
until [ -s "$CERT" ] && [ -s "$KEY" ] && [ -s "$ROOT" ]; do
  if [ "$announced" = 0 ]; then log info "waiting for enrollment to write $CERT"; announced=1; fi
  sleep 2
done
log info "certificate present; renewing at about 2/3 of its lifetime against $CA_URL"

trap 'log info "stopping"; exit 0' TERM INT
backoff=1
while true; do
  # Renew once 62-66% of the lifetime has passed (the threshold is drawn anew
  # at every check: that is the jitter). needs-renewal's percentage is the
  # share of the lifetime already ELAPSED (its default is 66%).
  if step certificate needs-renewal "$CERT" --expires-in "$((62 + RANDOM % 5))%" >/dev/null 2>&1; then
    if out=$(step ca renew --force --ca-url "$CA_URL" --root "$ROOT" "$CERT" "$KEY" 2>&1); then
      log info "certificate renewed; $(step certificate inspect "$CERT" --format json | grep -o '"serial_number": *"[0-9]*"' | tr -d '"' | tr -s ' ')"
      backoff=1
    else
      reason=$(printf '%s' "$out" | grep -v '^Re-run with' | tail -n 1 | tr -d '"\\')
      log error "renewal failed, retrying in ${backoff}s: $reason"
      sleep "$backoff" & wait $!
      backoff=$(( backoff * 2 > MAX_BACKOFF_SECONDS ? MAX_BACKOFF_SECONDS : backoff * 2 ))
      continue
    fi
  fi
  sleep "$CHECK_INTERVAL_SECONDS" & wait $!
done
