# shellcheck shell=sh
# mtls-credset.sh: the credential sets of the Prometheus recipes (node_exporter
# and Prometheus), sourced after mtls-common.sh. Their official images are
# busybox with no openssl, so what the shell needs from a certificate is read
# from its DER here: the serial and notAfter (stats and logs) and whether the
# key belongs to the certificate (the renewer renames the key first, then the
# certificate). Trust, chain and identity stay with mtls-trust and with the
# Go TLS stack of the process, which refuses what does not verify.
#
# A set is a private directory ($1 of load_set): trust.crt (built from
# root.crt by mtls-trust: pinned roots only, re-encoded), and copies of
# site.crt and site.key. The process reads only sets, never $CERT_DIR.
#
# Below the DER reader and the sets, the life cycle both entry processes
# share: the contract's variables, the state, the polling of the inputs, the
# refusals, the reload and the health check. A sourcing entry process sets
# RUN, PID_FILE, PROCESS_NAME and READY_STATE and defines write_stats,
# use_set DIR (point the process at a new set) and start_process (start it
# on the first set, setting proc_pid).
#
# POSIX sh and tools busybox also has.

CERT_DIR=${CERT_DIR:-/var/run/step}
ROOT_PIN_FILE=${ROOT_PIN_FILE:-}
STATS_FILE=${STATS_FILE:-/tmp/mtls-stats.json}
# shellcheck disable=SC2034  # the state the sourcing script's write_stats reports
state=waiting serial='' not_after='' not_after_s=0 reloads=0 failed_reloads=0 last_reload_at='' last_error='' stats_at=0
gen=0 current='' previous='' proc_pid='' applied='' waited_for=''

# der_hex FILE LABEL: the first PEM block whose BEGIN line ends in LABEL, as
# lower-case hex without spaces.
der_hex() {
  sed -n "/^-----BEGIN .*$2-----/,/^-----END/{/^-----END/q;/^-----BEGIN/d;p;}" "$1" 2>/dev/null |
    tr -d '\r' | base64 -d 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
}

# der_walk MODE HEX: a small DER reader. MODE cert prints "SERIAL NOTAFTER
# SPKI" (hex, the notAfter digits, the SubjectPublicKeyInfo's content in hex);
# MODE key prints the public part a private key carries (the EC point's BIT
# STRING of SEC1, also inside PKCS#8; RSA's modulus) or nothing.
der_walk() {
  awk -v mode="$1" -v h="$2" '
    function hv(s) { return (index(D, substr(s, 1, 1)) - 1) * 16 + index(D, substr(s, 2, 1)) - 1 }
    function tl(   n) {
      T = substr(h, p, 2); L = hv(substr(h, p + 2, 2)); p += 4
      if (L > 128) { n = L - 128; L = 0; while (n-- > 0) { L = L * 256 + hv(substr(h, p, 2)); p += 2 } }
    }
    function val() { v = substr(h, p, L * 2); p += L * 2; return v }
    function skip() { p += L * 2 }
    function ascii(x,   s, i) { s = ""; for (i = 1; i < length(x); i += 2) s = s sprintf("%c", hv(substr(x, i, 2))); return s }
    BEGIN {
      D = "0123456789abcdef"; p = 1
      if (mode == "cert") {
        tl(); tl(); tl()                       # Certificate, tbsCertificate, first field
        if (T == "a0") { skip(); tl() }         # [0] version
        serial = val()
        tl(); skip(); tl(); skip()              # signature, issuer
        tl(); tl(); skip(); tl(); na = ascii(val())  # validity: notBefore, notAfter
        if (length(na) == 13) na = "20" na      # UTCTime: years 2000-2049 here
        tl(); skip(); tl()                      # subject, subjectPublicKeyInfo
        print serial, substr(na, 1, 14), val()
        exit
      }
      tl(); tl(); skip(); tl()                  # PrivateKey: version, then what follows
      if (T == "30") { skip(); tl(); tl(); tl(); skip(); tl() }  # PKCS#8: algorithm, OCTET STRING { key: version, next }
      if (T == "02") { print val(); exit }      # RSA: the modulus
      if (T != "04") exit                       # EC: privateKey, then [0] parameters, [1] publicKey
      skip()
      while (p < length(h)) { tl(); if (T == "a1") { tl(); print val(); exit }; skip() }
    }'
}

# cert_facts FILE: $serial (upper-case hex, no leading zeros), $not_after
# (ISO 8601), $not_after_s (epoch seconds) and $spki of FILE's first
# certificate; fails when it does not parse.
# shellcheck disable=SC2034  # for the sourcing script
cert_facts() {
  # shellcheck disable=SC2046 # three words
  set -- $(der_walk cert "$(der_hex "$1" CERTIFICATE)")
  [ $# -eq 3 ] || return 1
  serial=$(printf '%s' "$1" | sed 's/^0*//' | tr 'a-f' 'A-F') spki=$3
  _na=$(printf '%s' "$2" | sed -n 's/^\(....\)\(..\)\(..\)\(..\)\(..\)\(..\)$/\1-\2-\3 \4:\5:\6/p')
  [ -n "$_na" ] || return 1
  not_after="$(printf '%s' "$_na" | tr ' ' T).000Z"
  not_after_s=$(date -u -d "$_na" +%s 2>/dev/null) || return 1
}

# key_matches KEY SPKI: the private key's public part is in SPKI. A key of a
# kind the reader does not know (Ed25519) passes: the process refuses a pair
# that does not match when it loads it, and the set stays the old one.
key_matches() {
  pub=$(der_walk key "$(der_hex "$1" 'PRIVATE KEY')")
  [ -z "$pub" ] && return 0
  case $2 in *"$pub"*) return 0 ;; esac
  return 1
}

# set_sums: the checksums of the four inputs; empty while one is missing
# (sha256sum, as mtls-trust uses: not every busybox build has cksum).
set_sums() {
  [ -f "$CERT_DIR/root.crt" ] && [ -f "$CERT_DIR/site.crt" ] && [ -f "$CERT_DIR/site.key" ] && [ -f "$ROOT_PIN_FILE" ] &&
    sha256sum "$CERT_DIR/root.crt" "$CERT_DIR/site.crt" "$CERT_DIR/site.key" "$ROOT_PIN_FILE" 2>/dev/null
}

# load_set DIR: builds a set in DIR from $CERT_DIR and checks it: 0 with
# $serial, $not_after, $not_after_s set; 1 refused ($problem says why); 2 the
# key does not match the certificate yet (the renewer between its renames:
# look again at the next poll; after 3 polls it is refused).
# shellcheck disable=SC2034  # problem is for the sourcing script
load_set() {
  problem='' set_mismatches=${set_mismatches:-0}
  # shellcheck disable=SC2015  # the handler is meant to run when either step fails
  mkdir -p "$1" && cp "$CERT_DIR/site.crt" "$CERT_DIR/site.key" "$1/" 2>/dev/null ||
    { problem='could not copy the credential files'; return 1; }
  if ! out=$(mtls-trust "$CERT_DIR/root.crt" "$ROOT_PIN_FILE" "$1/trust.crt" 2>&1 >/dev/null); then
    problem="root.crt refused: ${out:-mtls-trust failed}"
    return 1
  fi
  cert_facts "$1/site.crt" || { problem='site.crt does not parse'; return 1; }
  if ! key_matches "$1/site.key" "$spki"; then
    set_mismatches=$((set_mismatches + 1))
    [ "$set_mismatches" -gt 3 ] || return 2
    set_mismatches=0 problem='site.key does not match site.crt'
    return 1
  fi
  set_mismatches=0
  [ "$(date +%s)" -lt "$not_after_s" ] || { problem="site.crt expired at $not_after"; return 1; }
}

# ---------- the life cycle
credset_refuse() {
  failed_reloads=$((failed_reloads + 1)) last_error=$1
  [ -n "$current" ] && keep=" (keeping serial $serial)" || keep=''
  log warn "credentials refused: $1$keep"
  write_stats
}

# credset_load: a new set from $CERT_DIR, checked, then given to the process
# (use_set), which starts on the first. The previous set stays until the
# next one (a handshake that began with it may still open its files).
# shellcheck disable=SC2034  # last_reload_at is for write_stats
credset_load() {
  gen=$((gen + 1))
  d="$RUN/tls/$gen"
  load_set "$d"
  rc=$?
  [ "$rc" -eq 0 ] || { rm -rf "$d"; [ "$rc" -eq 1 ] && credset_refuse "$problem"; return "$rc"; }
  use_set "$d" || { rm -rf "$d"; credset_refuse 'could not switch to the new set'; return 1; }
  [ -n "$previous" ] && rm -rf "$previous"
  previous=$current current=$d state=$READY_STATE
  if [ -z "$proc_pid" ]; then
    start_process
    echo "$proc_pid" >"$PID_FILE"
  else
    reloads=$((reloads + 1)) last_reload_at=$(now)
    log info reloaded serial "$serial" notAfter "$not_after"
  fi
  write_stats
}

credset_exit() {
  [ -n "${filter_pid:-}" ] && kill "$filter_pid" 2>/dev/null
  exit "$1"
}

# credset_poll: one pass of the loop: the process is alive; a changed set of
# inputs that stayed the same for 0.3 s is loaded (the renewer writes the key,
# then the certificate); the certificate in use has not expired.
credset_poll() {
  if [ -n "$proc_pid" ] && ! kill -0 "$proc_pid" 2>/dev/null; then
    log error "$PROCESS_NAME exited"
    credset_exit 1
  fi
  sums=$(set_sums)
  if [ -n "$sums" ] && [ "$sums" != "$applied" ]; then
    sleep 0.3
    if [ "$(set_sums)" = "$sums" ]; then
      applied=$sums
      credset_load
      [ $? -eq 2 ] && applied='' # look again at the next poll
    fi
  elif [ -z "$sums" ] && [ -z "$current" ] && [ "$waited_for" != "$(date +%M)" ]; then
    waited_for=$(date +%M) # a reminder once a minute
    log info "still waiting for the credential files"
  fi
  if [ -n "$current" ] && [ "$state" != failing ] && [ "$(date +%s)" -ge "$not_after_s" ]; then
    state=failing last_error="certificate $serial expired at $not_after"
    log error "$last_error"
    write_stats
  fi
}

# credset_stop SIGNAL: the process stops gracefully, then the entry process.
credset_stop() {
  log info stopping signal "$1"
  [ -n "$proc_pid" ] && kill -TERM "$proc_pid" 2>/dev/null && wait "$proc_pid"
  write_stats
  credset_exit 0
}

credset_begin() {
  trap 'credset_stop TERM' TERM
  trap 'credset_stop INT' INT
  # shellcheck disable=SC2015  # the handler is meant to run when either step fails
  rm -rf "$RUN" && mkdir -p "$RUN/tls" || { log error "cannot create $RUN"; exit 1; }
  write_stats
  log info "waiting for the first certificate and the root pin" certDir "$CERT_DIR" pinFile "$ROOT_PIN_FILE"
}

# credset_health: the health check's common part, from the stats file and
# the pid file: prints the line and fails unless the state is READY_STATE
# with the process alive; then $serial is the certificate in use.
# shellcheck disable=SC2154  # field sets v (mtls-common.sh)
credset_health() {
  fresh_stats "$STATS_FILE" || return 1
  if [ "$state" = waiting ]; then
    [ -z "$err" ] || { echo "unhealthy: credentials refused, none loaded: $err"; return 1; }
    echo "waiting: no certificate yet: the root pin and the first certificate come after deploy"
    return 1
  fi
  [ "$state" = "$READY_STATE" ] || { echo "unhealthy: ${state:-no state}: $err"; return 1; }
  pid=''
  { read -r pid; } 2>/dev/null <"$PID_FILE"
  # shellcheck disable=SC2015  # the handler is meant to run when either step fails
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { echo "unhealthy: $PROCESS_NAME is not running"; return 1; }
  field serial
  serial=$v
}
