#!/bin/bash
# CA entrypoint. Honours the official smallstep/step-ca image's env contract
# (DOCKER_STEPCA_INIT_NAME, _DNS_NAMES, _PROVISIONER_NAME, _ADDRESS,
# _PASSWORD_FILE, _PASSWORD, DOCKER_STEPCA_PASSWORD_FILE) and $STEPPATH layout,
# with two deliberate differences:
#   * generated passwords are never printed: they stay in $STEPPATH/secrets,
#     mode 0600, inside the CA volume, and are used there (tokens are minted
#     with `docker exec`, so the provisioner password never leaves the volume);
#   * provisioner claims (certificate lifetimes) are applied on every start
#     from MTLS_CA_{MIN,DEFAULT,MAX}_TLS_CERT_DURATION, so the stack's props
#     stay the single source of truth;
#   * initialisation is a separate step, `entrypoint.sh init`, run in its own
#     short-lived container that also mounts the root-key volume at
#     $MTLS_CA_ROOT_KEY_DIR: `step ca init` writes the root key into
#     $STEPPATH/secrets, and this step moves it out to that volume (kept for a
#     later intermediate rotation). The serving CA never mounts that volume,
#     and refuses to start while a root key is in $STEPPATH.
set -euo pipefail
umask 077

export STEPPATH="${STEPPATH:-/home/step}"
CONFIGPATH="${CONFIGPATH:-$STEPPATH/config/ca.json}"
PWDPATH="${PWDPATH:-$STEPPATH/secrets/password}"
PROVISIONER_PWDPATH="$STEPPATH/secrets/provisioner_password"
NEVER_SERVED="$STEPPATH/.never-served"
# The serving container names it in MTLS_CA_PROVISIONER_NAME (it has no init env).
PROVISIONER="${DOCKER_STEPCA_INIT_PROVISIONER_NAME:-${MTLS_CA_PROVISIONER_NAME:-admin}}"
ROOT_KEY="$STEPPATH/secrets/root_ca_key"

# `entrypoint.sh health <url>`: the Docker health check, one line in the
# stack's vocabulary: `ready:` when the CA answers /health over TLS verified
# against its own root, `starting:` while nothing listens yet, `unhealthy:`
# otherwise. Bounded to 3 s: Docker 20.10 does not end a check that overruns.
if [ "${1:-}" = health ]; then
  url="${2:-https://127.0.0.1:9000}"
  rc=0
  out=$(timeout 3 step ca health --ca-url "$url" --root "$STEPPATH/certs/root_ca.crt" 2>&1) || rc=$?
  [ "$rc" = 0 ] && { echo "ready: the CA serves $url (/health: ${out//$'\n'/ })"; exit 0; }
  reason="${out%$'\n'}"; reason="${reason##*$'\n'}"
  case "$out" in
    *"connection refused"*) echo "starting: nothing listens on $url yet"; exit 1 ;;
  esac
  case "$rc" in 124 | 143) reason="no answer within 3 s" ;; esac
  echo "unhealthy: $url: ${reason:-step ca health exited $rc}"; exit 1
fi

# JSON log lines (log LEVEL MSG), shared with the renewer and the recipes' shell scripts.
LOG_COMPONENT=ca-entrypoint
# shellcheck source=recipes/lib/mtls-common.sh
. mtls-common.sh
die() { log error "$*" >&2; exit 1; }

random_password() {
  # 40 alphanumerics from the kernel CSPRNG; `head` closing the pipe is expected.
  set +o pipefail
  tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40
  set -o pipefail
}

init_ca() {
  [ -n "${DOCKER_STEPCA_INIT_NAME:-}" ] || die "no ca.json and DOCKER_STEPCA_INIT_NAME is unset: set DOCKER_STEPCA_INIT_NAME and DOCKER_STEPCA_INIT_DNS_NAMES, or mount an initialised \$STEPPATH"
  [ -n "${DOCKER_STEPCA_INIT_DNS_NAMES:-}" ] || die "no ca.json and DOCKER_STEPCA_INIT_DNS_NAMES is unset"
  mkdir -p "$STEPPATH/secrets"
  if [ -n "${DOCKER_STEPCA_INIT_PASSWORD_FILE:-}" ] && [ -f "$DOCKER_STEPCA_INIT_PASSWORD_FILE" ]; then
    cp "$DOCKER_STEPCA_INIT_PASSWORD_FILE" "$PWDPATH"
    cp "$DOCKER_STEPCA_INIT_PASSWORD_FILE" "$PROVISIONER_PWDPATH"
  elif [ -n "${DOCKER_STEPCA_INIT_PASSWORD:-}" ]; then
    printf '%s' "$DOCKER_STEPCA_INIT_PASSWORD" >"$PWDPATH"
    printf '%s' "$DOCKER_STEPCA_INIT_PASSWORD" >"$PROVISIONER_PWDPATH"
  else
    random_password >"$PWDPATH"
    random_password >"$PROVISIONER_PWDPATH"
  fi
  chmod 600 "$PWDPATH" "$PROVISIONER_PWDPATH"
  log info "initialising CA '$DOCKER_STEPCA_INIT_NAME' for ${DOCKER_STEPCA_INIT_DNS_NAMES}"
  # step prints a banner and colours; keep the log readable and print its
  # output only when init fails (it never contains the passwords).
  local out
  if ! out=$(step ca init \
    --name "$DOCKER_STEPCA_INIT_NAME" \
    --dns "$DOCKER_STEPCA_INIT_DNS_NAMES" \
    --provisioner "$PROVISIONER" \
    --password-file "$PWDPATH" \
    --provisioner-password-file "$PROVISIONER_PWDPATH" \
    --address "${DOCKER_STEPCA_INIT_ADDRESS:-:9000}" \
    --deployment-type standalone 2>&1); then
    printf '%s\n' "$out" >&2
    die "step ca init failed"
  fi
  log info "CA initialised; root fingerprint $(step certificate fingerprint "$STEPPATH/certs/root_ca.crt")"
  # Until the CA first serves: that start's log is the one that holds every certificate (announce_start).
  : >"$NEVER_SERVED"
}

# Says in the CA's log whether this is its first start since init. A log that
# holds the first start holds every certificate the CA ever issued
# (scripts/lib/ca/log.ts reads these lines: keep them as they are); one that
# starts at a later start (a container recreated, a pod replaced) does not.
announce_start() {
  if [ -e "$NEVER_SERVED" ]; then
    rm -f "$NEVER_SERVED" || die "could not remove $NEVER_SERVED"
    log info "first start of this CA since its initialisation: this log holds every certificate it issues"
  else
    log info "started again: certificates issued before this start are not in this log"
  fi
}

# apply_claims [NAME]: the stack's lifetimes on provisioner NAME (default: the JWK one).
apply_claims() {
  local name="${1:-$PROVISIONER}" args=()
  [ -n "${MTLS_CA_MIN_TLS_CERT_DURATION:-}" ] && args+=(--x509-min-dur "$MTLS_CA_MIN_TLS_CERT_DURATION")
  [ -n "${MTLS_CA_MAX_TLS_CERT_DURATION:-}" ] && args+=(--x509-max-dur "$MTLS_CA_MAX_TLS_CERT_DURATION")
  [ -n "${MTLS_CA_DEFAULT_TLS_CERT_DURATION:-}" ] && args+=(--x509-default-dur "$MTLS_CA_DEFAULT_TLS_CERT_DURATION")
  [ ${#args[@]} -eq 0 ] && return 0
  step ca provisioner update "$name" --ca-config "$CONFIGPATH" "${args[@]}" >/dev/null 2>&1 \
    || die "could not apply claims ${args[*]} to provisioner $name (min <= default <= max is required)"
  log info "provisioner $name claims: ${args[*]}"
}

# The ACME provisioner `acme`, present only while MTLS_CA_ACME_DNS_NAMES
# (comma-separated) names the DNS names of the mesh's ACME workloads, and
# allowed to sign exactly those: step 0.30.2 has no policy flag for a
# provisioner in ca.json (`step ca policy provisioner` needs the admin
# database), so its X.509 template refuses, with `fail`, any SAN that is not
# one of them. Rewritten on every start: the list follows the stack.
ACME_PROVISIONER=acme
ACME_TEMPLATE="$STEPPATH/templates/acme-leaf.tpl"
has_provisioner() { grep -Eq "\"name\": *\"$1\"" "$CONFIGPATH"; }

write_acme_template() {
  local names="" n
  for n in ${MTLS_CA_ACME_DNS_NAMES//,/ }; do
    [[ "$n" =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die "MTLS_CA_ACME_DNS_NAMES: '$n' is not a DNS name"
    names+=" \"$n\""
  done
  mkdir -p "${ACME_TEMPLATE%/*}"
  # step's default leaf template (x509util.DefaultLeafTemplate), after the check.
  cat >"$ACME_TEMPLATE.tmp" <<EOF
{{- \$allowed := list$names }}
{{- range .SANs }}{{ if or (ne .Type "dns") (not (has .Value \$allowed)) }}{{ fail (printf "the ACME provisioner signs only the DNS names of the mesh's ACME workloads, not %s %s" .Type .Value) }}{{ end }}{{ end }}
{
  "subject": {{ toJson .Subject }},
  "sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
  "keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
  "keyUsage": ["digitalSignature"],
{{- end }}
  "extKeyUsage": ["serverAuth", "clientAuth"]
}
EOF
  chmod 600 "$ACME_TEMPLATE.tmp" && mv -f "$ACME_TEMPLATE.tmp" "$ACME_TEMPLATE"
}

apply_acme() {
  if [ -z "${MTLS_CA_ACME_DNS_NAMES:-}" ]; then
    has_provisioner "$ACME_PROVISIONER" || return 0
    step ca provisioner remove "$ACME_PROVISIONER" --ca-config "$CONFIGPATH" >/dev/null 2>&1 \
      || die "could not remove provisioner $ACME_PROVISIONER"
    rm -f "$ACME_TEMPLATE"
    log info "provisioner $ACME_PROVISIONER removed: no ACME workload in the mesh"
    return 0
  fi
  write_acme_template
  local verb=add args=(--type ACME)
  has_provisioner "$ACME_PROVISIONER" && verb=update args=()
  step ca provisioner "$verb" "$ACME_PROVISIONER" "${args[@]}" --x509-template "$ACME_TEMPLATE" --ca-config "$CONFIGPATH" >/dev/null 2>&1 \
    || die "could not $verb provisioner $ACME_PROVISIONER"
  log info "provisioner $ACME_PROVISIONER ($verb): signs only $MTLS_CA_ACME_DNS_NAMES"
  apply_claims "$ACME_PROVISIONER"
}

# Moves the root key out of $STEPPATH into the root-key volume: copy under a
# temporary name, rename (atomic), then delete the original. A kept key is
# never overwritten by a different one.
move_root_key_offline() {
  local dir="${MTLS_CA_ROOT_KEY_DIR:?init needs MTLS_CA_ROOT_KEY_DIR: the mount point of the root-key volume}"
  # shellcheck disable=SC2015  # the handler is meant to run when either step fails
  [ -d "$dir" ] && [ -w "$dir" ] || die "$dir (the root-key volume) is not a writable directory"
  if [ -f "$ROOT_KEY" ]; then
    if [ -f "$dir/root_ca_key" ] && ! cmp -s "$ROOT_KEY" "$dir/root_ca_key"; then
      die "$dir/root_ca_key holds a different root key than $ROOT_KEY: refusing to overwrite it; resolve by hand"
    fi
    cp "$ROOT_KEY" "$dir/root_ca_key.tmp"
    chmod 600 "$dir/root_ca_key.tmp"
    mv -f "$dir/root_ca_key.tmp" "$dir/root_ca_key"
    cp "$STEPPATH/certs/root_ca.crt" "$dir/root_ca.crt.tmp" && mv -f "$dir/root_ca.crt.tmp" "$dir/root_ca.crt"
    rm -f "$ROOT_KEY"
    log info "root key moved out of the CA volume into the root-key volume"
  elif [ -f "$dir/root_ca_key" ]; then
    log info "root key already kept in the root-key volume"
  else
    log info "no root key in the CA volume or the root-key volume: an intermediate rotation will need a new root"
  fi
}

if [ "${1:-}" = init ]; then
  [ -f "$CONFIGPATH" ] || init_ca
  move_root_key_offline
  exit 0
fi

[ -f "$CONFIGPATH" ] || die "the CA is not initialised (no $CONFIGPATH): run this image with the argument init first (the stack's <prefix>-ca-init container does)"
[ ! -e "$ROOT_KEY" ] || die "the root key is in $ROOT_KEY, inside the serving CA: run this image with the argument init and the root-key volume mounted, which moves it out"
if [ -n "${DOCKER_STEPCA_PASSWORD_FILE:-}" ] && [ -f "$DOCKER_STEPCA_PASSWORD_FILE" ]; then
  PWDPATH="$DOCKER_STEPCA_PASSWORD_FILE"
fi
apply_claims
apply_acme

if [ "$#" -gt 0 ]; then
  exec "$@"
fi
announce_start
exec step-ca --password-file "$PWDPATH" "$CONFIGPATH"
