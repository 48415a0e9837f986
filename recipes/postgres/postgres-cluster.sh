# shellcheck shell=bash
# shellcheck disable=SC2154  # PGDATA, PG_BIN, ADMIN, LIVE, SOCKET_DIR and the rest: set by mtls-postgres
# The cluster of the PostgreSQL recipe, sourced by mtls-postgres: initdb once;
# the configuration (TLS from the private set, certificate authentication
# only) and the roles (one per allowed identity) on every start.

identities_to_roles() { # ALLOWED_IDENTITIES (DNS names) -> IDENT_LINES and ROLES
  local id role
  IDENT_LINES='' ROLES=''
  IFS=',' read -ra ids <<<"$ALLOWED_IDENTITIES"
  for id in "${ids[@]}"; do
    id="${id//[[:space:]]/}"
    [ -z "$id" ] && continue
    if ! [[ "$id" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$ ]]; then
      log error "ignoring allowed identity: not a lower-case DNS name" identity "$id"; continue
    fi
    role="${id%%.*}"
    if [ "$role" = "$ADMIN" ] || [[ "$role" =~ ^pg_ ]]; then
      log error "ignoring allowed identity: its role name is reserved" identity "$id" role "$role"; continue
    fi
    IDENT_LINES+="mesh  $id  $role"$'\n'
    [[ ",$ROLES," == *",$role,"* ]] || ROLES+="${ROLES:+,}$role"
  done
}

init_cluster() {
  [ -s "$PGDATA/PG_VERSION" ] && return 0
  log info "initialising the cluster" pgdata "$PGDATA"
  # No password anywhere: the superuser only ever comes in over the socket (peer).
  "$PG_BIN/initdb" -D "$PGDATA" --username="$ADMIN" --auth-local=peer --auth-host=reject \
    --encoding=UTF8 --data-checksums --no-instructions 2>&1 | lines_to_json initdb
  [ "${PIPESTATUS[0]}" = 0 ]
}

write_config() {
  local conf="$PGDATA/postgresql.conf"
  grep -qx "include 'mtls.conf'" "$conf" || printf "\n# Written by the mTLS recipe's entrypoint on every start.\ninclude 'mtls.conf'\n" >>"$conf"
  cat >"$PGDATA/mtls.conf" <<EOF
# Rewritten by the mTLS recipe on every start: edits here are lost.
listen_addresses = '*'
port = $LISTEN_PORT
unix_socket_directories = '$SOCKET_DIR'
unix_socket_permissions = 0700
ssl = on
ssl_cert_file = '$LIVE/site.crt'
ssl_key_file = '$LIVE/site.key'
ssl_ca_file = '$LIVE/root.crt'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%p '
log_timezone = 'UTC'
lc_messages = 'C'
log_connections = off
shared_buffers = 32MB
max_connections = 50
EOF
  # Only certificate authentication over TLS, only to the mesh database, only
  # for identities in the map; the socket (a tmpfs of this container) only for
  # the container's own superuser.
  cat >"$PGDATA/pg_hba.conf" <<EOF
# Rewritten by the mTLS recipe on every start: edits here are lost.
# TYPE    DATABASE  USER      ADDRESS  METHOD
local     all       $ADMIN             peer
local     all       all                reject
hostssl   mesh      all       all      cert clientcert=verify-full map=mesh
hostssl   all       all       all      reject
hostnossl all       all       all      reject
EOF
  printf '# Rewritten by the mTLS recipe on every start from ALLOWED_IDENTITIES.\n# MAP  CERTIFICATE-CN  ROLE\n%s' "$IDENT_LINES" >"$PGDATA/pg_ident.conf"
}

psql_local() { "$PG_BIN/psql" -X -w -q -A -t -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$LISTEN_PORT" -U "$ADMIN" -d postgres "$@"; }

reconcile_roles() {
  local out
  out="$(psql_local -v roles="$ROLES" 2>&1 <<'SQL'
SELECT 'CREATE DATABASE mesh' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mesh') \gexec
REVOKE ALL ON DATABASE mesh, postgres, template1 FROM PUBLIC;
CREATE TEMP TABLE allowed AS SELECT r AS name FROM unnest(string_to_array(:'roles', ',')) AS r WHERE r <> '';
SELECT format('CREATE ROLE %I', name) FROM allowed WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', name) FROM allowed \gexec
SELECT format('COMMENT ON ROLE %I IS %L', name, 'mtls: workload role from ALLOWED_IDENTITIES') FROM allowed \gexec
SELECT format('GRANT CONNECT ON DATABASE mesh TO %I', name) FROM allowed \gexec
-- Roles made on an earlier start whose identity is no longer allowed.
SELECT format('ALTER ROLE %I NOLOGIN', rolname) FROM pg_roles
  WHERE shobj_description(oid, 'pg_authid') LIKE 'mtls:%' AND rolname NOT IN (SELECT name FROM allowed) \gexec
SQL
)" || { log error "reconciling roles failed" error "$out"; return 1; }
  log info "roles reconciled" roles "$ROLES" database mesh
}

sessions() { psql_local -c "SELECT sessions FROM pg_stat_database WHERE datname = 'mesh'" 2>/dev/null; }
