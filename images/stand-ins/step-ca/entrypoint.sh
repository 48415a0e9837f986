#!/bin/bash
# Stand-in for the official step-ca image's docker/entrypoint.sh: the same
# environment contract, written independently. Unless ca.json exists, it
# initialises a CA from DOCKER_STEPCA_INIT_* and then runs the command.
# Differences, on purpose: the generated provisioner password is not printed
# (upstream prints it once; nothing here relies on that), and there is no
# pcscd (no smart-card support in the stand-in).
set -eo pipefail

STEPPATH="$(step path)"
export STEPPATH

have_init_vars() {
  [ -n "${DOCKER_STEPCA_INIT_NAME:-}" ] && [ -n "${DOCKER_STEPCA_INIT_DNS_NAMES:-}" ]
}

new_password() {
  set +o pipefail
  tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40
  echo
  set -o pipefail
}

write_passwords() {
  local target
  for target in "$STEPPATH/password" "$STEPPATH/provisioner_password"; do
    if [ -n "${DOCKER_STEPCA_INIT_PASSWORD_FILE:-}" ]; then
      cat <"$DOCKER_STEPCA_INIT_PASSWORD_FILE" >"$target"
    elif [ -n "${DOCKER_STEPCA_INIT_PASSWORD:-}" ]; then
      printf '%s\n' "$DOCKER_STEPCA_INIT_PASSWORD" >"$target"
    else
      new_password >"$target"
    fi
  done
}

init_ca() {
  local root_file="${DOCKER_STEPCA_INIT_ROOT_FILE:-/run/secrets/root_ca.crt}"
  local key_file="${DOCKER_STEPCA_INIT_KEY_FILE:-/run/secrets/root_ca_key}"
  local key_password_file="${DOCKER_STEPCA_INIT_KEY_PASSWORD_FILE:-/run/secrets/root_ca_key_password}"
  local args=(
    --name "$DOCKER_STEPCA_INIT_NAME"
    --dns "$DOCKER_STEPCA_INIT_DNS_NAMES"
    --provisioner "${DOCKER_STEPCA_INIT_PROVISIONER_NAME:-admin}"
    --password-file "$STEPPATH/password"
    --provisioner-password-file "$STEPPATH/provisioner_password"
    --address "${DOCKER_STEPCA_INIT_ADDRESS:-:9000}"
  )
  write_passwords
  [ -f "$root_file" ] && args+=(--root "$root_file")
  [ -f "$key_file" ] && args+=(--key "$key_file")
  [ -f "$key_password_file" ] && args+=(--key-password-file "$key_password_file")
  [ -n "${DOCKER_STEPCA_INIT_DEPLOYMENT_TYPE:-}" ] && args+=(--deployment-type "$DOCKER_STEPCA_INIT_DEPLOYMENT_TYPE")
  [ -n "${DOCKER_STEPCA_INIT_WITH_CA_URL:-}" ] && args+=(--with-ca-url "$DOCKER_STEPCA_INIT_WITH_CA_URL")
  [ "${DOCKER_STEPCA_INIT_SSH:-}" = "true" ] && args+=(--ssh)
  [ "${DOCKER_STEPCA_INIT_ACME:-}" = "true" ] && args+=(--acme)
  [ "${DOCKER_STEPCA_INIT_REMOTE_MANAGEMENT:-}" = "true" ] \
    && args+=(--remote-management --admin-subject "${DOCKER_STEPCA_INIT_ADMIN_SUBJECT:-step}")
  step ca init "${args[@]}"
  shred -u "$STEPPATH/provisioner_password"
  mv "$STEPPATH/password" "$PWDPATH"
}

if [ ! -f "$STEPPATH/config/ca.json" ]; then
  if have_init_vars; then
    init_ca
  else
    echo "there is no ca.json config file; please run step ca init, or provide config parameters via DOCKER_STEPCA_INIT_ vars" >&2
  fi
fi

exec "$@"
