# shellcheck shell=sh
# shellcheck disable=SC2034,SC2154  # problem is read, haproxy_pid and MODE set, by the sourcing script
# mtls-haproxy-api.sh: what mtls-haproxy does through HAProxy's runtime API
# (the stats socket $SOCKET) and its master process, sourced by it (found on
# PATH, /usr/local/bin in the image). Uses its variables: SOCKET, LIVE_PEM,
# LIVE_TRUST, RUN, haproxy_pid; sets $problem when a step fails.

# cli: one runtime API command (and its payload) from stdin; the answer on stdout.
cli() { mtls-haproxy-cli "$SOCKET"; }
# hex_serial: "serial=00AB…" or "Serial: 00AB…" on stdin -> "AB…".
hex_serial() { sed -n 's/^[[:space:]]*[Ss]erial[=:][[:space:]]*0*\([0-9A-Fa-f]*\).*/\1/p' | tr 'a-f' 'A-F' | head -n 1; }
# The serial HAProxy holds under the certificate's name right now.
held_serial() { printf 'show ssl cert %s\n' "$LIVE_PEM" | cli 2>/dev/null | hex_serial; }

# commit_cert NEW: `set ssl cert` with NEW's content under the live name,
# then `commit ssl cert`. HAProxy checks the payload and, at the commit,
# rebuilds every TLS context that uses the certificate; a failure changes nothing.
commit_cert() {
  answer=$({ printf 'set ssl cert %s <<\n' "$LIVE_PEM"; cat "$1"; printf '\n'; } | cli 2>&1)
  case $answer in
    *[Tt]ransaction\ created* | *[Tt]ransaction\ updated*) ;;
    *) problem="set ssl cert: $(printf '%s' "$answer" | tr '\n' ' ')"; printf 'abort ssl cert %s\n' "$LIVE_PEM" | cli >/dev/null 2>&1; return 1 ;;
  esac
  answer=$(printf 'commit ssl cert %s\n' "$LIVE_PEM" | cli 2>&1)
  case $answer in
    *Success!*) mv -f "$1" "$LIVE_PEM" ;; # the file under the live name holds what HAProxy holds
    *) problem="commit ssl cert: $(printf '%s' "$answer" | tr '\n' ' ')"; printf 'abort ssl cert %s\n' "$LIVE_PEM" | cli >/dev/null 2>&1; return 1 ;;
  esac
}

# The pid of the worker answering on the runtime API.
worker_pid() { printf 'show info\n' | cli 2>/dev/null | sed -n 's/^Pid: //p'; }

# reload_with DIR: the set in DIR (a new trust) through a master-worker
# reload. The files go under the live names (the old ones kept aside until
# `haproxy -c` accepts the configuration with them), then SIGUSR2 to the
# master; done when a new worker answers on the runtime API.
reload_with() {
  if ! { cp -p "$LIVE_TRUST" "$LIVE_TRUST.prev" && cp -p "$LIVE_PEM" "$LIVE_PEM.prev"; }; then problem="could not keep the old set"; return 1; fi
  if ! { mv -f "$1/trust.crt" "$LIVE_TRUST" && mv -f "$1/site.pem" "$LIVE_PEM"; }; then problem="could not install the new set"; return 1; fi
  if ! out=$(haproxy -c -q -f "$RUN/haproxy.cfg" 2>&1); then
    mv -f "$LIVE_TRUST.prev" "$LIVE_TRUST" && mv -f "$LIVE_PEM.prev" "$LIVE_PEM"
    problem="haproxy -c: $out"
    return 1
  fi
  rm -f "$LIVE_TRUST.prev" "$LIVE_PEM.prev"
  old_worker=$(worker_pid)
  save_server_state
  kill -USR2 "$haproxy_pid"
  waited=0
  until worker=$(worker_pid) && [ -n "$worker" ] && [ "$worker" != "$old_worker" ]; do
    waited=$((waited + 1))
    [ "$waited" -le 50 ] || { problem="no new worker 10 s after the reload (see its log)"; return 1; }
    sleep 0.2
  done
  upstream_ready
}

# save_server_state: the worker's server state (`show servers state`: the
# upstream's resolved address, its state) into the server-state-file the new
# worker loads at start (haproxy.cfg.in: init-addr last). Without it the new
# worker begins without an address and answers 503 until its resolver does.
save_server_state() {
  printf 'show servers state\n' | cli >"$RUN/servers.state.new" 2>/dev/null &&
    mv -f "$RUN/servers.state.new" "$RUN/servers.state"
}

# upstream_ready: in a proxy, the new worker has its upstream server up with
# an address (`show servers state upstream`: srv_addr, srv_op_state 2). A
# warning, not a refusal, if it has not within 5 s: the trust is in force.
upstream_ready() {
  [ "$MODE" = proxy ] || return 0
  waited=0
  until printf 'show servers state upstream\n' | cli 2>/dev/null | awk '$4 == "upstream" && $5 != "-" && $6 == 2 { up = 1 } END { exit !up }'; do
    waited=$((waited + 1))
    [ "$waited" -le 25 ] || { log warn "the new worker has no usable upstream 5 s after the reload" upstream "$UPSTREAM_HOST"; return 0; }
    sleep 0.2
  done
}
