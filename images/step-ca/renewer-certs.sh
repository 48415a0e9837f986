# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153,SC2154  # the names it reads (files, CA_URL, timeouts) and sets (SERIAL, NOT_BEFORE, NOT_AFTER, PROBLEM) are renewer.sh's
# The renewer's certificate operations, sourced by renewer.sh: each runs
# `step` (verify a pair, read a certificate's serial and validity, rekey and
# install the new pair) and reports a problem in one line.

# A one-line reason from step's error output.
# shellcheck disable=SC1003  # '"\\' is the set tr deletes (a quote and a backslash), not an escaped quote
reason_of() { printf '%s' "$1" | grep -v '^Re-run with' | grep -v '^[[:space:]]*$' | tail -n 1 | tr -d '"\\'; }

# The certificate and key validate together: the chain verifies against the
# root (validity included) and the key is the certificate's key.
# Prints the problem and fails otherwise.
check_pair() {
  local cert="$1" key="$2" out cert_pub key_pub
  [ -s "$cert" ] || { echo "${cert##*/} is missing or empty"; return 1; }
  [ -s "$key" ] || { echo "${key##*/} is missing or empty"; return 1; }
  if ! out=$(step certificate verify "$cert" --roots "$ROOT" 2>&1); then
    echo "${cert##*/} is unusable: $(reason_of "$out")"
    return 1
  fi
  cert_pub=$(step certificate key "$cert" 2>/dev/null) || { echo "${cert##*/} has no readable public key"; return 1; }
  key_pub=$(step crypto key public "$key" 2>/dev/null) || { echo "${key##*/} is unusable: not a readable private key"; return 1; }
  [ "$cert_pub" = "$key_pub" ] || { echo "${key##*/} does not match ${cert##*/}"; return 1; }
}

# The pair's signature (inode, size, mtime to the nanosecond, of each file):
# a rename or a rewrite of either changes it. `step ca certificate --force`
# rewrites in place (same inode) and a new certificate often has the old one's
# size, so whole-second mtimes would miss a second write in the same second.
pair_signature() { stat -c '%i:%s:%.9Y' "$CERT" "$KEY" 2>/dev/null; }

# Holds the install lock (an flock on $CERT_DIR itself, util-linux's flock)
# on file descriptor 9 until the calling (sub)shell exits or closes it.
# Enrollment's exec takes the same lock to install a pair (scripts/lib/ca/step.ts),
# so a pair is only ever the renewer's or enrollment's, never half of each.
take_install_lock() {
  exec 9<"$CERT_DIR" && flock -w "$LOCK_TIMEOUT_SECONDS" 9
}

# Rekeys with the given certificate (site.crt, or the last good copy) and
# site.key, and installs the new pair. Prints the failure reason; exits 2
# (not a failure) when another pair was installed while the CA answered:
# an enrollment's certificate wins over a rekey of the one it replaced.
rekey() {
  local from="$1" out problem
  rm -f "$STAGED_CERT" "$STAGED_KEY"
  # A CA that accepts the connection and never answers must not stall the loop.
  if ! out=$(timeout "$RENEW_TIMEOUT_SECONDS" step ca rekey "$from" "$KEY" --out-cert "$STAGED_CERT" --out-key "$STAGED_KEY" \
    --kty EC --curve P-256 --force --ca-url "$CA_URL" --root "$ROOT" 2>&1); then
    rm -f "$STAGED_CERT" "$STAGED_KEY"
    reason_of "${out:-no answer from the CA within ${RENEW_TIMEOUT_SECONDS}s}"
    return 1
  fi
  if ! problem=$(check_pair "$STAGED_CERT" "$STAGED_KEY"); then
    rm -f "$STAGED_CERT" "$STAGED_KEY"
    echo "the CA's answer did not validate: $problem"
    return 1
  fi
  # Called in $(...): the lock is released when that subshell exits.
  take_install_lock || { rm -f "$STAGED_CERT" "$STAGED_KEY"; echo "could not take the install lock on $CERT_DIR within ${LOCK_TIMEOUT_SECONDS}s"; return 1; }
  if [ "$(pair_signature)" != "$SIG" ]; then
    rm -f "$STAGED_CERT" "$STAGED_KEY"
    echo "another certificate was installed while the CA answered (enrollment)"
    return 2
  fi
  # shellcheck disable=SC2015  # the handler is meant to run when either step fails
  mv -f "$STAGED_KEY" "$NEXT_KEY" && mv -f "$STAGED_CERT" "$NEXT_CERT" || { echo "could not stage the new pair in $CERT_DIR"; return 1; }
  # shellcheck disable=SC2015  # the handler is meant to run when either step fails
  mv -f "$NEXT_KEY" "$KEY" && mv -f "$NEXT_CERT" "$CERT" || { echo "could not install the new pair in $CERT_DIR"; return 1; }
}

# Seconds since the epoch of a UTC calendar date (days from civil, proleptic
# Gregorian), in bash: BusyBox `date` (the official image) and GNU's parse differently.
epoch_of() { # year month day hour minute second -> EPOCH
  local y=$((10#$1)) m=$((10#$2)) d=$((10#$3)) era yoe doy
  ((m <= 2)) && y=$((y - 1))
  era=$(((y >= 0 ? y : y - 399) / 400)) yoe=$((y - era * 400))
  doy=$(((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1))
  EPOCH=$(((era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468) * 86400 + 10#$4 * 3600 + 10#$5 * 60 + 10#$6))
}
# One `step certificate inspect` per certificate: sets SERIAL (upper-case hex,
# no leading zeros), NOT_BEFORE and NOT_AFTER (epoch seconds), or PROBLEM.
inspect() {
  local out which pre months=JanFebMarAprMayJunJulAugSepOctNovDec
  local date_re='([A-Z][a-z]{2}) +([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4}) UTC'
  local rc reason
  out=$(step certificate inspect "$1" 2>&1) || {
    rc=$? reason=$(reason_of "$out")
    PROBLEM="step certificate inspect ${1##*/} exited $rc${reason:+: $reason}"; return 1
  }
  [[ "$out" =~ Serial\ Number:\ [0-9]+\ \(0x([0-9a-fA-F]+)\) ]] || { PROBLEM="no serial number in ${1##*/}"; return 1; }
  SERIAL="${BASH_REMATCH[1]^^}"
  while [[ "$SERIAL" == 0?* ]]; do SERIAL="${SERIAL#0}"; done
  for which in Before After; do
    [[ "$out" =~ Not\ $which\ *:\ $date_re ]] || { PROBLEM="no Not $which date in ${1##*/}"; return 1; }
    pre="${months%%"${BASH_REMATCH[1]}"*}"
    epoch_of "${BASH_REMATCH[6]}" $((${#pre} / 3 + 1)) "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}" "${BASH_REMATCH[5]}"
    if [ "$which" = Before ]; then NOT_BEFORE="$EPOCH"; else NOT_AFTER="$EPOCH"; fi
  done
}
