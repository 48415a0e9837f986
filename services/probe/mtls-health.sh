#!/bin/bash
# Docker health check of the Node workloads (/usr/local/bin/mtls-health in the
# workload image): GET /healthz from the loopback admin listener and print its
# verdict as the one line every check in the stack prints: `ready: …` (exit 0),
# `waiting: …`, `starting: …` or `unhealthy: …` (exit 1).
#
# Bash alone, no Node: a Node process per check cost more CPU than the workload
# at rest. The TCP connection is bash's /dev/tcp to 127.0.0.1, which either
# connects at once or is refused at once (the kernel completes the handshake
# for a listening socket whether or not Node is responsive); the answer is
# read with `read -t`, so a workload that does not answer costs the check
# HEALTH_TIMEOUT_SECONDS, well inside Docker's timeout, and never piles up.
set -u
ADMIN_PORT="${ADMIN_PORT:-9100}"
HEALTH_TIMEOUT_SECONDS="${HEALTH_TIMEOUT_SECONDS:-2}"

[[ "$ADMIN_PORT" =~ ^[0-9]{1,5}$ ]] || { echo "unhealthy: ADMIN_PORT is not a port number: $ADMIN_PORT"; exit 1; }
if ! exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT"; then
  echo "unhealthy: nothing listens on the admin port 127.0.0.1:$ADMIN_PORT"
  exit 1
fi 2>/dev/null
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
# HTTP/1.0: the server closes the connection after the answer, so reading to
# the end of the stream reads exactly one answer.
response=''
read -r -d '' -t "$HEALTH_TIMEOUT_SECONDS" response <&3
[ $? -gt 128 ] && { echo "unhealthy: no answer from 127.0.0.1:$ADMIN_PORT/healthz within ${HEALTH_TIMEOUT_SECONDS}s"; exit 1; }
exec 3<&-

[[ "$response" =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] || { echo "unhealthy: 127.0.0.1:$ADMIN_PORT/healthz did not answer HTTP"; exit 1; }
code="${BASH_REMATCH[1]}"
body="${response#*$'\r\n\r\n'}"
# A string field of the JSON body into a variable (escaped quotes and
# backslashes kept simple); no subshell.
field() { # name variable
  local re='"'"$1"'":"(([^"\\]|\\.)*)"' v=''
  if [[ "$body" =~ $re ]]; then v="${BASH_REMATCH[1]//\\\"/\"}"; v="${v//\\\\/\\}"; fi
  printf -v "$2" '%s' "$v"
}
status='' detail='' serial=''  # set by field (printf -v)
field status status
field detail detail
field serial serial

case "$status" in
  ready | waiting | starting | unhealthy) line="$status: ${detail:-/healthz says $status}" ;;
  # The same verdict in the client's words: `ok` (valid credentials in use).
  ok) line="ready: credentials in use (certificate ${serial:-?})" ;;
  *) line="unhealthy: /healthz says ${status:-nothing}${detail:+: $detail}" ;;
esac
if [ "$code" = 200 ] && [[ "$line" == ready:* ]]; then
  echo "$line"
  exit 0
fi
# A `ready` that is not a 200 contradicts itself: broken.
[[ "$line" == ready:* ]] && line="unhealthy: /healthz answered $code with ${line#ready: }"
echo "$line"
exit 1
