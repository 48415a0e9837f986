#!/bin/bash
# Renewer sidecar (the autocert pattern): waits until enrollment has written a
# certificate into $CERT_DIR, then keeps it fresh with `step ca renew --daemon`,
# which renews over mTLS (the current cert authenticates the renewal) at about
# 2/3 of the lifetime, with jitter so a fleet does not renew in lock-step.
set -euo pipefail
umask 077
CERT_DIR="${CERT_DIR:-/var/run/step}"
: "${CA_URL:?CA_URL must point at the CA, e.g. https://ca.mesh.internal:9000}"

# Docker health check: healthy while waiting for enrollment, and afterwards
# only while the certificate on disk verifies against the root (not expired).
if [ "${1:-}" = health ]; then
  [ -s "$CERT_DIR/site.crt" ] || exit 0
  exec step certificate verify "$CERT_DIR/site.crt" --roots "$CERT_DIR/root.crt" >/dev/null
fi

log() { printf '{"ts":"%s","level":"%s","component":"renewer","msg":"%s"}\n' "$(date -u +%FT%TZ)" "$1" "$2"; }

announced=0
# Enrollment is a separate, explicit step (scripts/enroll.ts); until it has run
# there is nothing to renew. A cheap poll keeps this independent of ordering.
until [ -s "$CERT_DIR/site.crt" ] && [ -s "$CERT_DIR/site.key" ] && [ -s "$CERT_DIR/root.crt" ]; do
  if [ "$announced" = 0 ]; then log info "waiting for enrollment to write $CERT_DIR/site.crt"; announced=1; fi
  sleep 2
done
log info "certificate present; starting renew daemon against $CA_URL"
exec step ca renew --daemon --force \
  --ca-url "$CA_URL" --root "$CERT_DIR/root.crt" \
  ${RENEW_PERIOD:+--renew-period "$RENEW_PERIOD"} \
  "$CERT_DIR/site.crt" "$CERT_DIR/site.key"
