#!/bin/sh
# mtls-nginx: the container's entry process. It renders nginx's configuration
# from the environment, waits for the first certificate and the root pin,
# runs nginx in the foreground and polls the credential files every second.
# A changed set is rebuilt in a private directory (the trust file from
# root.crt by mtls-trust, copies of site.crt and site.key), validated there
# (chain, key, nginx -t) and loaded with a graceful reload (SIGHUP): old
# workers finish their requests, new ones use the new certificate. A refused
# set leaves nginx on the old one.
set -u
umask 077

CERT_DIR=${CERT_DIR:-/var/run/step}
ROOT_PIN_FILE=${ROOT_PIN_FILE:-}
STATS_FILE=${STATS_FILE:-/tmp/mtls-stats.json}
LISTEN_PORT=${LISTEN_PORT:-8443}
ALLOWED_IDENTITIES=${ALLOWED_IDENTITIES:-}
UPSTREAM_HOST=${UPSTREAM_HOST:-}
UPSTREAM_PORT=${UPSTREAM_PORT:-8443}
UPSTREAM_IDENTITY=${UPSTREAM_IDENTITY:-$UPSTREAM_HOST}
LOG_LEVEL=${LOG_LEVEL:-warn}
TEMPLATE=/etc/mtls-nginx/nginx.conf.in
RUN=/tmp/nginx

# shellcheck source=recipes/lib/mtls-common.sh
. mtls-common.sh
LOG_COMPONENT=mtls-nginx
bad_config() { log error "bad configuration: $1" variable "$2"; exit 2; }

# --- configuration (checked before anything starts; values end up in nginx.conf) ---
[ -n "$ROOT_PIN_FILE" ] || bad_config 'ROOT_PIN_FILE is required (nginx only loads pinned roots)' ROOT_PIN_FILE
# shellcheck disable=SC2015  # the handler is meant to run when either step fails
is_port "$LISTEN_PORT" && [ "$LISTEN_PORT" -gt 1024 ] || bad_config 'LISTEN_PORT must be a port above 1024' LISTEN_PORT
# Without UPSTREAM_HOST nginx is a plain mTLS server answering GET / itself.
# The stats say "both" for a proxy (it is a server and a client), as the stack's roles do.
if [ -n "$UPSTREAM_HOST" ]; then
  MODE=proxy ROLE=both
  is_dns "$UPSTREAM_HOST" || bad_config 'UPSTREAM_HOST must be a DNS name' UPSTREAM_HOST
  is_port "$UPSTREAM_PORT" || bad_config 'UPSTREAM_PORT must be a port' UPSTREAM_PORT
  is_dns "$UPSTREAM_IDENTITY" || bad_config 'UPSTREAM_IDENTITY must be a DNS name (nginx checks the DNS SAN)' UPSTREAM_IDENTITY
else
  MODE=server ROLE=server
fi
case $LOG_LEVEL in
  debug) LOG_LEVEL=info ;; # nginx's debug log needs a debug build
  info | notice | warn | error) ;;
  *) bad_config 'LOG_LEVEL must be info, notice, warn or error' LOG_LEVEL ;;
esac

# shellcheck disable=SC2015  # the handler is meant to run when either step fails
rm -rf "$RUN" && mkdir -p "$RUN/tls" || { log error "cannot create $RUN"; exit 1; }
allowed=0
set -f # the list is split on commas and blanks, never globbed
for id in $(printf '%s' "$ALLOWED_IDENTITIES" | tr ',' ' '); do
  is_dns "$id" || bad_config "ALLOWED_IDENTITIES: '$id' is not a DNS name (nginx checks the certificate's CN)" ALLOWED_IDENTITIES
  printf '"CN=%s" 1;\n' "$id" >>"$RUN/allowed.map"
  allowed=$((allowed + 1))
done
set +f
[ "$allowed" -gt 0 ] || bad_config 'ALLOWED_IDENTITIES names no caller' ALLOWED_IDENTITIES

# nginx's resolver takes the container's nameservers (IPv6 ones in brackets).
resolver=$(sed -n 's/^[[:space:]]*nameserver[[:space:]]\{1,\}\([0-9A-Fa-f.:]\{1,\}\).*/\1/p' /etc/resolv.conf 2>/dev/null |
  sed 's/^\(.*:.*\)$/[\1]/' | tr '\n' ' ')
# The upstream is resolved per request (on Docker a restarted upstream comes
# back at another address), unless /etc/hosts pins its name to an IPv4
# address (Kubernetes hostAliases: a Service's fixed address): nginx's
# resolver never reads /etc/hosts, so it connects to that address. Either
# way the upstream's certificate is checked against UPSTREAM_IDENTITY.
upstream_addr=$UPSTREAM_HOST
if [ "$MODE" = proxy ]; then
  pinned=$(awk -v h="$UPSTREAM_HOST" '$1 ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/ { for (i = 2; i <= NF; i++) if ($i == h) { print $1; exit } }' /etc/hosts 2>/dev/null)
  [ -n "$pinned" ] && upstream_addr=$pinned
fi
[ -n "$resolver" ] || [ "$MODE" = server ] || [ "$upstream_addr" != "$UPSTREAM_HOST" ] ||
  bad_config 'no nameserver in /etc/resolv.conf and no address for it in /etc/hosts (the upstream is resolved per request)' UPSTREAM_HOST

# --- state and stats ---
state=waiting serial='' not_after='' not_after_s=0 reloads=0 failed_reloads=0
last_reload_at='' last_error='' counts='0 0 0' gen=0 tls='' mismatches=0
nginx_pid='' awk_pid='' stats_at=0

write_stats() {
  # shellcheck disable=SC2086 # three numbers
  set -- $counts
  extra=''
  [ -n "$serial" ] && extra="$extra\"serial\":\"$serial\",\"notAfter\":\"$not_after\","
  [ -n "$last_reload_at" ] && extra="$extra\"lastReloadAt\":\"$last_reload_at\","
  [ -n "$last_error" ] && extra="$extra\"lastError\":\"$(json_escape "$last_error")\","
  write_atomic "$STATS_FILE" "{\"technology\":\"nginx\",\"role\":\"$ROLE\",\"state\":\"$state\",$extra\"reloads\":$reloads,\"failedReloads\":$failed_reloads,\"requests\":{\"ok\":$1,\"failed\":$3,\"refused\":$2},\"updatedAt\":\"$(now)\"}"
  stats_at=$(date +%s)
}

render() { # render TLS_DIR OUT: the template with this mode's location block only
  [ "$MODE" = proxy ] && drop=server || drop=proxy
  sed -e "/# BEGIN $drop/,/# END $drop/d" -e "s|@RUN@|$RUN|g" -e "s|@TLS@|$1|g" -e "s|@LISTEN_PORT@|$LISTEN_PORT|g" \
    -e "s|@UPSTREAM_ADDR@|$upstream_addr|g" -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" \
    -e "s|@UPSTREAM_IDENTITY@|$UPSTREAM_IDENTITY|g" \
    -e "s|@RESOLVER@|${resolver:-127.0.0.11}|g" -e "s|@LOG_LEVEL@|$LOG_LEVEL|g" "$TEMPLATE" >"$2"
}

# The four inputs' checksums (which change is all that matters); empty while one is missing.
sums() {
  [ -f "$CERT_DIR/root.crt" ] && [ -f "$CERT_DIR/site.crt" ] && [ -f "$CERT_DIR/site.key" ] && [ -f "$ROOT_PIN_FILE" ] &&
    cksum "$CERT_DIR/root.crt" "$CERT_DIR/site.crt" "$CERT_DIR/site.key" "$ROOT_PIN_FILE" 2>/dev/null
}

# validate DIR: checks the set in DIR (trust.crt built by mtls-trust, copies
# of site.crt and site.key); on failure sets $problem.
validate() {
  d=$1 problem=''
  cert_pub=$(openssl x509 -in "$d/site.crt" -noout -pubkey 2>/dev/null)
  key_pub=$(openssl pkey -in "$d/site.key" -pubout 2>/dev/null)
  [ -n "$cert_pub" ] || { problem="site.crt does not parse"; return 1; }
  [ "$cert_pub" = "$key_pub" ] || { problem="site.key does not match site.crt"; return 1; }
  out=$(openssl verify -CAfile "$d/trust.crt" -untrusted "$d/site.crt" "$d/site.crt" 2>&1) ||
    { problem="site.crt does not verify: $(printf '%s' "$out" | grep -i error | head -n 2)"; return 1; }
  render "$d" "$RUN/nginx.conf.new"
  out=$(nginx -t -q -p "$RUN/" -e stderr -c "$RUN/nginx.conf.new" 2>&1) ||
    { problem="nginx -t: $out"; return 1; }
}

# The serial nginx serves on its port right now (a local handshake with the set in DIR).
served_serial() {
  timeout 3 openssl s_client -connect "127.0.0.1:$LISTEN_PORT" -servername localhost \
    -cert "$1/site.crt" -key "$1/site.key" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=0*//'
}

# try_load: build a new set, validate it and start or reload nginx with it.
# The set is a private directory: the trust file mtls-trust builds from
# root.crt (pinned roots only, re-encoded: recipes/README.md, "Trust file")
# and copies of site.crt and site.key. nginx reads only this directory.
try_load() {
  gen=$((gen + 1))
  d="$RUN/tls/$gen"
  # shellcheck disable=SC2015  # the handler is meant to run when either step fails
  mkdir "$d" && cp "$CERT_DIR/site.crt" "$CERT_DIR/site.key" "$d/" 2>/dev/null ||
    { refuse "could not copy the credential files"; return 1; }
  if ! out=$(mtls-trust "$CERT_DIR/root.crt" "$ROOT_PIN_FILE" "$d/trust.crt" 2>&1 >/dev/null); then
    refuse "root.crt refused: ${out:-mtls-trust failed}"
    return 1
  fi
  if ! validate "$d"; then
    # A new key with the old certificate is the renewer between its two
    # renames: give the certificate a few polls to arrive before refusing.
    if [ "$problem" = "site.key does not match site.crt" ] && [ "$mismatches" -lt 3 ]; then
      mismatches=$((mismatches + 1))
      rm -rf "$d"
      return 2
    fi
    refuse "$problem"
    return 1
  fi
  mismatches=0
  new_serial=$(openssl x509 -in "$d/site.crt" -noout -serial | sed 's/^serial=0*//')
  end=$(openssl x509 -in "$d/site.crt" -noout -enddate | sed 's/^notAfter=//')
  mv -f "$RUN/nginx.conf.new" "$RUN/nginx.conf"
  if [ -z "$nginx_pid" ]; then
    nginx -p "$RUN/" -e stderr -c "$RUN/nginx.conf" 2>"$RUN/log.fifo" &
    nginx_pid=$!
  else
    kill -HUP "$nginx_pid"
  fi
  # Loaded once the port serves the new serial (nginx keeps the old set when
  # a reload fails, and says why in its own log).
  tries=0
  while [ "$(served_serial "$d")" != "$new_serial" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 25 ] || { refuse "nginx did not serve serial $new_serial after the reload (see its log)"; return 1; }
    sleep 0.2
  done
  [ -n "$serial" ] && reloads=$((reloads + 1)) && last_reload_at=$(now)
  serial=$new_serial
  not_after=$(date -u -d "$end" +%Y-%m-%dT%H:%M:%S.000Z)
  not_after_s=$(date -u -d "$end" +%s)
  state=serving tls=$d last_error=''
  # nginx holds the loaded certificates in memory: older copies can go.
  for old in "$RUN"/tls/*; do [ "$old" = "$d" ] || rm -rf "$old"; done
  if [ "$reloads" -gt 0 ]; then log info reloaded serial "$serial" notAfter "$not_after"
  else log info serving serial "$serial" notAfter "$not_after" port "$LISTEN_PORT" mode "$MODE"; fi
  write_stats
}

refuse() {
  failed_reloads=$((failed_reloads + 1)) last_error=$1 mismatches=0
  [ -n "$tls" ] && keep=" (keeping serial $serial)" || keep=''
  log warn "credentials refused: $1$keep"
  rm -rf "$d"
  write_stats
}

stop() {
  log info "stopping" signal "$1"
  # SIGQUIT: graceful shutdown, bounded by worker_shutdown_timeout (10 s).
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid"
  [ -n "$awk_pid" ] && kill "$awk_pid" 2>/dev/null
  exit 0
}
trap 'stop TERM' TERM
trap 'stop INT' INT
trap 'stop QUIT' QUIT

# nginx's stderr (error log and access log) goes through a FIFO to the JSON formatter.
mkfifo "$RUN/log.fifo" || exit 1
# mawk (Debian's awk) reads a pipe in large blocks unless told it is interactive.
interactive=''
awk -W version 2>/dev/null | grep -q mawk && interactive='-W interactive'
# shellcheck disable=SC2086 # empty or two words
awk $interactive -v counts="$RUN/counts" -f /etc/mtls-nginx/log-json.awk <"$RUN/log.fifo" &
awk_pid=$!

write_stats
log info "waiting for the first certificate and the root pin" certDir "$CERT_DIR" pinFile "$ROOT_PIN_FILE"
applied='' waited_for=''
while :; do
  if [ -n "$nginx_pid" ] && ! kill -0 "$nginx_pid" 2>/dev/null; then
    log error "nginx exited"; kill "$awk_pid" 2>/dev/null; exit 1
  fi
  if ! kill -0 "$awk_pid" 2>/dev/null; then
    log error "the log formatter exited"; [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid"; exit 1
  fi
  current=$(sums)
  if [ -n "$current" ] && [ "$current" != "$applied" ]; then
    # The renewer writes the key, then the certificate: act on a set that has
    # stayed the same for a moment, not on the key alone.
    sleep 0.3
    if [ "$(sums)" = "$current" ]; then
      applied=$current
      try_load
      [ $? -eq 2 ] && applied='' # look again at the next poll
    fi
  elif [ -z "$current" ] && [ -z "$tls" ] && [ "$waited_for" != "$(date +%M)" ]; then
    waited_for=$(date +%M) # a reminder once a minute
    log info "still waiting for the credential files"
  fi
  if [ "$state" = serving ] && [ "$(date +%s)" -ge "$not_after_s" ]; then
    state=failing last_error="certificate $serial expired at $not_after"
    log error "$last_error"
    write_stats
  fi
  c=$(cat "$RUN/counts" 2>/dev/null)
  if printf '%s' "$c" | grep -Eqx '[0-9]+ [0-9]+ [0-9]+' && [ "$c" != "$counts" ]; then
    counts=$c
    write_stats
  elif [ $(($(date +%s) - stats_at)) -ge 5 ]; then
    write_stats
  fi
  nap 1
done
