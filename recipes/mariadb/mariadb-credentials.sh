# shellcheck shell=bash
# shellcheck disable=SC2034  # SERIAL_NEW, NOT_AFTER_NEW, WAIT_RC and the rest are for the sourcing script
# The credentials of the MariaDB recipe, sourced by mtls-mariadb (server) and
# mtls-mysql-client (client) first thing: the shell settings and contract
# variables both share, then the private credential set. What the TLS library
# reads is a set in LIVE (tmpfs), never the renewer's volume. A set is built
# and checked in NEXT, then moved to LIVE:
#   root.crt  the trust file mtls-trust (recipes/lib) builds from root.crt
#             under the contract's "Trust file" rules (pinned CERTIFICATE
#             blocks only, written again from their DER);
#   site.crt, site.key  copies; with openssl, the chain verifies against that
#             trust file and the key matches the certificate.
# The sourcing script sets STATE_DIR (its tmpfs directory) before.
set -uo pipefail
umask 077
export TZ=UTC LC_ALL=C
: "${CERT_DIR:=/var/run/step}" "${ROOT_PIN_FILE:=/var/run/mtls-trust/root-fingerprints}" "${STATS_FILE:=/tmp/mtls-stats.json}"
NEXT="$STATE_DIR/next" LIVE="$STATE_DIR/tls"
ROOT="$CERT_DIR/root.crt" CERT="$CERT_DIR/site.crt" KEY="$CERT_DIR/site.key"
HAVE_OPENSSL=0; command -v openssl >/dev/null 2>&1 && HAVE_OPENSSL=1

# refuse MESSAGE: PROBLEM <- MESSAGE, status 1 (`check || refuse ... || return`).
refuse() { PROBLEM="$1"; return 1; }

# pins_ok: the pin file pins at least one root and every other line is blank,
# a comment or a SHA-256 fingerprint (hex, colons allowed); else refuse.
pins_ok() {
  local entry count=0
  [ -r "$ROOT_PIN_FILE" ] || refuse "cannot read the root pin $ROOT_PIN_FILE" || return
  while IFS= read -r entry || [ -n "$entry" ]; do
    entry="${entry%%#*}"; entry="${entry//[[:space:]:]/}"
    [ -n "$entry" ] || continue
    [[ "${entry,,}" =~ ^[0-9a-f]{64}$ ]] || refuse "$ROOT_PIN_FILE has a line that is not a SHA-256 fingerprint" || return
    count=$((count + 1))
  done <"$ROOT_PIN_FILE"
  [ "$count" -gt 0 ] || refuse "$ROOT_PIN_FILE pins no root"
}

# chain_ok: with openssl, the copied chain verifies against the copied trust
# file and the key is the certificate's; SERIAL_NEW and NOT_AFTER_NEW from it.
chain_ok() {
  local verdict pub dates
  verdict="$(openssl verify -CAfile "$NEXT/root.crt" -untrusted "$NEXT/site.crt" "$NEXT/site.crt" 2>&1)" \
    || refuse "site.crt does not verify against root.crt: $(grep -m1 -oE 'error [0-9]+ at [0-9]+ depth lookup: .*' <<<"$verdict" || echo 'not a readable certificate chain')" || return
  pub="$(openssl x509 -in "$NEXT/site.crt" -noout -pubkey 2>/dev/null)" && [ -n "$pub" ] || refuse "site.crt is unreadable" || return
  [ "$pub" = "$(openssl pkey -in "$NEXT/site.key" -pubout 2>/dev/null)" ] || refuse "site.key does not match site.crt (or is not a private key)" || return
  dates="$(openssl x509 -in "$NEXT/site.crt" -noout -serial -enddate 2>/dev/null)"
  SERIAL_NEW="$(sed -n 's/^serial=0*//p' <<<"$dates")"
  NOT_AFTER_NEW="$(date -u -d "$(sed -n 's/^notAfter=//p' <<<"$dates")" +%Y-%m-%dT%H:%M:%S.000Z 2>/dev/null)"
}

# validate: builds the next set in NEXT and checks it there. Sets PROBLEM,
# SERIAL_NEW (upper-case hex, no leading zeros) and NOT_AFTER_NEW; status 0 =
# usable, 1 = refused, 2 = nothing to use yet (no pin file, no credentials).
validate() {
  local why
  PROBLEM='' SERIAL_NEW='' NOT_AFTER_NEW=''
  if [ ! -e "$ROOT_PIN_FILE" ]; then PROBLEM="waiting for the root pin $ROOT_PIN_FILE"; return 2; fi
  if [ ! -e "$CERT" ] && [ ! -e "$KEY" ]; then PROBLEM="waiting for the first certificate in $CERT_DIR"; return 2; fi
  [ -s "$CERT" ] && [ -s "$KEY" ] || refuse "site.crt or site.key is missing or empty" || return
  pins_ok || return
  mkdir -p "$NEXT" || refuse "cannot make $NEXT" || return
  why="$(mtls-trust "$ROOT" "$ROOT_PIN_FILE" "$NEXT/root.crt" 2>&1 >/dev/null)" || refuse "root.crt refused: ${why:-mtls-trust failed}" || return
  { cp "$CERT" "$NEXT/site.crt" && cp "$KEY" "$NEXT/site.key"; } || refuse "cannot copy site.crt and site.key" || return
  [ "$HAVE_OPENSSL" = 0 ] || chain_ok
}

signature() { stat -L -c '%i:%s:%Y' "$ROOT" "$CERT" "$KEY" "$ROOT_PIN_FILE" 2>/dev/null | tr '\n' ' '; }

# take_up: looks at the files once. Status 0: a changed set passed and is now
# in LIVE (SERIAL_NEW, NOT_AFTER_NEW say which; the caller applies and counts
# it with loaded). Status 1: nothing to take up: unchanged, not there yet
# (WAIT_RC 2), or refused (WAIT_RC 1; once loaded, counted in FAILED_RELOADS
# and logged once per file set). The renewer writes the key first, then the
# certificate: a pair that does not match yet gets five looks before it
# counts as refused; anything else counts at once.
PROBLEM='' LOADED_SIG='' CANDIDATE='' TRIES=0 REPORTED='' WAIT_RC=2 RELOADS=0 FAILED_RELOADS=0 LAST_RELOAD_AT='' SERIAL='' NOT_AFTER='' LAST_ERROR=''
take_up() {
  local sig rc f
  sig="$(signature)"
  [ -n "$LOADED_SIG" ] && [ "$sig" = "$LOADED_SIG" ] && return 1
  [ "$sig" != "$CANDIDATE" ] && CANDIDATE="$sig" TRIES=0
  TRIES=$((TRIES + 1))
  validate; rc=$?
  if [ "$rc" = 0 ]; then
    for f in root.crt site.crt site.key; do mv -f "$NEXT/$f" "$LIVE/$f" || { PROBLEM="cannot move the checked set into $LIVE"; rc=1; break; }; done
  fi
  if [ "$rc" = 0 ]; then LOADED_SIG="$sig" REPORTED=''; return 0; fi
  if [ -z "$LOADED_SIG" ]; then
    WAIT_RC=$rc
    if [ "$PROBLEM" != "$REPORTED" ]; then
      if [ "$rc" = 1 ]; then LAST_ERROR="$PROBLEM"; log warn "credentials refused" reason "$PROBLEM"; else log info "$PROBLEM"; fi
      REPORTED="$PROBLEM"
    fi
    return 1
  fi
  [[ "$PROBLEM" == *'does not match'* ]] && [ "$TRIES" -lt 5 ] && return 1
  if [ "$REPORTED" != "$sig" ]; then
    FAILED_RELOADS=$((FAILED_RELOADS + 1)) LAST_ERROR="$PROBLEM; still using ${SERIAL:-the old certificate}" REPORTED="$sig"
    log error "reload refused" reason "$PROBLEM" serial "$SERIAL"
  fi
  return 1
}

# loaded: the set take_up moved into LIVE is in use: counts a reload (not the
# first load) and logs it.
loaded() {
  if [ -n "$SERIAL" ]; then
    RELOADS=$((RELOADS + 1)) LAST_RELOAD_AT="$(now)"
    log info reloaded serial "$SERIAL_NEW" notAfter "$NOT_AFTER_NEW"
  else
    log info "credentials loaded" serial "$SERIAL_NEW" notAfter "$NOT_AFTER_NEW"
  fi
  SERIAL="$SERIAL_NEW" NOT_AFTER="$NOT_AFTER_NEW" LAST_ERROR=''
}

# expired: the loaded certificate's notAfter has passed.
expired() { [ -n "$NOT_AFTER" ] && set_now && ! [[ "$NOT_AFTER" > "$NOW" ]]; }
