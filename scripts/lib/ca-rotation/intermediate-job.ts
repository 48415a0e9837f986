import { ROOT_KEY_DIR, STEPPATH } from '../../../common/facts.js';
import { UNPRIVILEGED_USER } from '../../../stack/hardening.js';
import { stackLabels } from '../../../stack/labels.js';

/**
 * The one place the root key is used: a short-lived container from the CA's
 * own image that mounts the CA volume and (read-only) the root-key volume,
 * has no network, no capabilities and an immutable root filesystem. The
 * script travels on stdin; its arguments are paths and public values only.
 * Every password is read by step from a file inside the CA volume
 * (`--password-file`, `--ca-password-file`), so none is ever in an argv, an
 * environment or a log — the host never sees it.
 */
export { STEPPATH };
/** Below $STEPPATH: where `step ca init` puts them and ca.json names them. */
const CRT_FILE = 'certs/intermediate_ca.crt';
const KEY_FILE = 'secrets/intermediate_ca_key';
export const INTERMEDIATE_CRT = `${STEPPATH}/${CRT_FILE}`;
export const INTERMEDIATE_KEY = `${STEPPATH}/${KEY_FILE}`;
/** The intermediate before the last rotation (certificate and key), kept in the CA volume. */
export const BACKUP_SUFFIX = '.previous';

/**
 * Idempotent, in steps that each leave a state the next run recognises:
 *  1. the installed pair does not match (a run stopped between its two
 *     renames): finish with the pending certificate, nothing else;
 *  2. a complete pending pair (`.new`) from a stopped run: use it;
 *     otherwise make one (`.tmp`, checked, then renamed to `.new`);
 *  3. copy the installed pair to `.previous`;
 *  4. rename the key, then the certificate, into place.
 * The CA (`step ca init`) encrypts the root and intermediate keys with the
 * same password file; the new key is encrypted with it too.
 * Lines on stdout starting with "did:" say what was done.
 */
export const ROTATE_INTERMEDIATE_SCRIPT = String.raw`set -euo pipefail
umask 077
root_dir="$1"; subject="$2"; not_after="$3"
s="$STEPPATH"; [ -n "$s" ] || { echo "STEPPATH is not set" >&2; exit 1; }
crt="$s/${CRT_FILE}"; key="$s/${KEY_FILE}"; pw="$s/secrets/password"
die() { printf '%s\n' "$*" >&2; exit 1; }
cert_pub() { step certificate key "$1" 2>/dev/null || true; }
key_pub() { step crypto key public "$1" --password-file "$pw" 2>/dev/null || true; }
pair_ok() { [ -f "$1" ] && [ -f "$2" ] || return 1; local c; c="$(cert_pub "$1")"; [ -n "$c" ] && [ "$c" = "$(key_pub "$2")" ]; }
backup() { cp "$1" "$1.bak.tmp"; mv -f "$1.bak.tmp" "$1${BACKUP_SUFFIX}"; }

[ -f "$pw" ] || die "no password file in the CA volume ($pw): is this the CA volume of an initialised CA?"
[ -f "$root_dir/root_ca_key" ] || die "no root key in the root-key volume ($root_dir/root_ca_key): without it no intermediate can be signed; a new root is needed"
cmp -s "$root_dir/root_ca.crt" "$s/certs/root_ca.crt" || die "the root certificate in the root-key volume is not the CA's root ($s/certs/root_ca.crt): refusing to sign with it; check which volumes belong to this stack"

if ! pair_ok "$crt" "$key"; then
  if pair_ok "$crt.new" "$key"; then
    mv -f "$crt.new" "$crt"
    echo "did: finished the install of a stopped run (its certificate renamed into place)"
    exit 0
  fi
  die "the installed intermediate certificate and key do not match and no pending certificate fits the key: restore $crt${BACKUP_SUFFIX} and $key${BACKUP_SUFFIX} by hand, then run again"
fi

if pair_ok "$crt.new" "$key.new"; then
  echo "did: reused the new intermediate a stopped run had made"
else
  rm -f "$crt.new" "$key.new" "$crt.tmp" "$key.tmp"
  if ! out="$(step certificate create "$subject" "$crt.tmp" "$key.tmp" --profile intermediate-ca \
      --ca "$root_dir/root_ca.crt" --ca-key "$root_dir/root_ca_key" --ca-password-file "$pw" \
      --password-file "$pw" --not-after "$not_after" 2>&1)"; then
    rm -f "$crt.tmp" "$key.tmp"
    die "step certificate create failed: $out"
  fi
  pair_ok "$crt.tmp" "$key.tmp" || die "the new certificate does not match the new key"
  mv -f "$key.tmp" "$key.new"
  mv -f "$crt.tmp" "$crt.new"
  echo "did: made a new intermediate key and certificate, signed by the root"
fi
backup "$crt"
backup "$key"
mv -f "$key.new" "$key"
mv -f "$crt.new" "$crt"
echo "did: installed it (the previous pair kept as *${BACKUP_SUFFIX})"
`;

export interface IntermediateJob {
  /** Container name: one rotation at a time (Docker refuses a second container of this name). */
  readonly name: string;
  readonly prefix: string;
  /** The serving CA's image. */
  readonly image: string;
  readonly caVolume: string;
  readonly rootKeyVolume: string;
  /** Subject of the new intermediate (the current one's). */
  readonly subject: string;
  /** Not after (RFC 3339): the root's, so the intermediate never outlives it. */
  readonly notAfter: string;
}

/**
 * The isolation every CA job runs with (this one and the root rotation's):
 * no network, no capabilities, uid 1000, a read-only root filesystem, the
 * stack's labels, the CA volume and, when given, the root-key volume.
 */
export function caJobFlags(job: { name: string; prefix: string; caVolume: string; rootKey?: { volume: string; readOnly: boolean } }): string[] {
  return [
    '--name',
    job.name,
    '--network',
    'none',
    '--user',
    UNPRIVILEGED_USER,
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges:true',
    '--read-only',
    '--tmpfs',
    '/tmp:rw,noexec,nosuid,nodev,size=16m',
    '--memory',
    '256m',
    ...Object.entries(stackLabels(job.prefix)).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    '--env',
    `STEPPATH=${STEPPATH}`,
    '-v',
    `${job.caVolume}:${STEPPATH}`,
    ...(job.rootKey ? ['-v', `${job.rootKey.volume}:${ROOT_KEY_DIR}${job.rootKey.readOnly ? ':ro' : ''}`] : []),
    '--entrypoint',
    'bash',
  ];
}

/** `docker run` flags, image and arguments for the job. */
export function intermediateJobArgs(job: IntermediateJob): { flags: string[]; image: string; args: string[] } {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(job.notAfter))
    throw new Error(`notAfter must be RFC 3339 UTC without fractions, got ${JSON.stringify(job.notAfter)}`);
  const flags = caJobFlags({ name: job.name, prefix: job.prefix, caVolume: job.caVolume, rootKey: { volume: job.rootKeyVolume, readOnly: true } });
  return { flags, image: job.image, args: ['-s', '--', ROOT_KEY_DIR, job.subject, job.notAfter] };
}
