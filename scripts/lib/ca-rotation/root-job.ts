import { ROOT_KEY_DIR, STEPPATH } from '../../../common/facts.js';
import { caJobFlags, INTERMEDIATE_CRT, INTERMEDIATE_KEY } from './intermediate-job.js';

/**
 * The CA side of a root rotation, one short-lived job per phase, like the
 * intermediate rotation's (scripts/lib/ca-rotation/intermediate-job.ts): the CA's image,
 * no network, no capabilities, a read-only root filesystem, the CA volume and
 * — for prepare and retire only — the root-key volume. Passwords are read by
 * step from files in the CA volume; the script travels on stdin; lines on
 * stdout starting with "did:" say what was done. Each phase is idempotent: a
 * stopped run leaves files the next run recognises.
 *
 * Files (CA volume = $STEPPATH, root-key volume = ROOT_KEY_DIR):
 *   prepare   root-key: root_ca.next.crt + root_ca_key.next   (the new root)
 *             CA:       certs/root_ca.next.crt, certs/roots.crt (old + new),
 *                       certs/intermediate_ca.next.crt + secrets/intermediate_ca_key.next
 *             ca.json:  "root": [old, new]   (the CA accepts leaves under either)
 *   activate  CA:       the next intermediate installed (the old pair kept as *.previous)
 *   retire    CA:       certs/root_ca.crt = the new root; ca.json "root" back to it alone;
 *                       roots.crt and the .next files removed
 *             root-key: the new root and key become root_ca.crt / root_ca_key; the old key is deleted
 *             CA:       the rotation record (ROTATION_RECORD) removed: the rotation is over
 */
export const NEXT_ROOT = `${STEPPATH}/certs/root_ca.next.crt`;
export const ROOTS_BUNDLE = `${STEPPATH}/certs/roots.crt`;
export const NEXT_INTERMEDIATE = `${STEPPATH}/certs/intermediate_ca.next.crt`;
export const CA_ROOT_FILE = `${STEPPATH}/certs/root_ca.crt`;
/**
 * The CA's record of a rotation's phases (scripts/lib/ca-rotation/root-record.ts): JSON
 * written by the operator's commands through the CA container, removed by
 * the retire job.
 */
export const ROTATION_RECORD = `${STEPPATH}/root-rotation.json`;

export type RootPhase = 'prepare' | 'activate' | 'retire';

export const ROTATE_ROOT_SCRIPT = String.raw`set -euo pipefail
umask 077
phase="$1"; root_dir="$2"; root_subject="$3"; int_subject="$4"; not_after="$5"
s="$STEPPATH"; [ -n "$s" ] || { echo "STEPPATH is not set" >&2; exit 1; }
pw="$s/secrets/password"; conf="$s/config/ca.json"
root="$s/certs/root_ca.crt"; next_root="${NEXT_ROOT}"; roots="${ROOTS_BUNDLE}"
int="${INTERMEDIATE_CRT}"; int_key="${INTERMEDIATE_KEY}"
next_int="${NEXT_INTERMEDIATE}"; next_int_key="$s/secrets/intermediate_ca_key.next"; record="${ROTATION_RECORD}"
die() { printf '%s\n' "$*" >&2; exit 1; }
cert_pub() { step certificate key "$1" 2>/dev/null || true; }
key_pub() { step crypto key public "$1" --password-file "$pw" 2>/dev/null || true; }
pair_ok() { [ -f "$1" ] && [ -f "$2" ] || return 1; local c; c="$(cert_pub "$1")"; [ -n "$c" ] && [ "$c" = "$(key_pub "$2")" ]; }
# under CERT ROOTFILE: CERT verifies against exactly that root.
under() { [ -f "$1" ] && [ -f "$2" ] && step certificate verify "$1" --roots "$2" >/dev/null 2>&1; }
put() { cp "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"; }   # atomic copy
single_root_line="	\"root\": \"$root\","
both_roots_line="	\"root\": [\"$root\", \"$next_root\"],"
set_root_line() { # FROM TO: ca.json's root line, replaced exactly once
  [ "$(grep -cxF -- "$1" "$conf")" = 1 ] || die "ca.json has no line $1 (edited by hand?): set its \"root\" by hand, then run again"
  awk -v from="$1" -v to="$2" '$0 == from { print to; next } { print }' "$conf" >"$conf.tmp.$$"
  mv -f "$conf.tmp.$$" "$conf"
}
[ -f "$pw" ] || die "no password file in the CA volume ($pw): is this the CA volume of an initialised CA?"

case "$phase" in
prepare)
  [ -f "$root_dir/root_ca_key" ] || die "no root key in the root-key volume: this CA's root cannot be rotated by this command"
  cmp -s "$root_dir/root_ca.crt" "$root" || die "the root in the root-key volume is not the CA's root: refusing; check which volumes belong to this stack"
  if pair_ok "$root_dir/root_ca.next.crt" "$root_dir/root_ca_key.next"; then
    echo "did: reused the new root a stopped run had made"
  else
    rm -f "$root_dir/root_ca.next.crt" "$root_dir/root_ca_key.next" "$root_dir"/*.tmp
    out="$(step certificate create "$root_subject" "$root_dir/root.tmp" "$root_dir/key.tmp" --profile root-ca \
      --password-file "$pw" --not-after "$not_after" 2>&1)" || { rm -f "$root_dir"/*.tmp; die "step certificate create (root) failed: $out"; }
    pair_ok "$root_dir/root.tmp" "$root_dir/key.tmp" || die "the new root does not match its key"
    mv -f "$root_dir/key.tmp" "$root_dir/root_ca_key.next"
    mv -f "$root_dir/root.tmp" "$root_dir/root_ca.next.crt"
    echo "did: made a new root key and self-signed root certificate (in the root-key volume)"
  fi
  cmp -s "$root_dir/root_ca.next.crt" "$next_root" 2>/dev/null || { put "$root_dir/root_ca.next.crt" "$next_root"; chmod 644 "$next_root"; echo "did: copied the new root certificate into the CA volume"; }
  cat "$root" "$next_root" >"$roots.tmp.$$" && chmod 644 "$roots.tmp.$$" && mv -f "$roots.tmp.$$" "$roots"
  if pair_ok "$next_int" "$next_int_key" && under "$next_int" "$next_root"; then
    echo "did: reused the new intermediate a stopped run had made"
  else
    rm -f "$next_int" "$next_int_key" "$next_int.tmp" "$next_int_key.tmp"
    out="$(step certificate create "$int_subject" "$next_int.tmp" "$next_int_key.tmp" --profile intermediate-ca \
      --ca "$root_dir/root_ca.next.crt" --ca-key "$root_dir/root_ca_key.next" --ca-password-file "$pw" \
      --password-file "$pw" --not-after "$not_after" 2>&1)" || { rm -f "$next_int.tmp" "$next_int_key.tmp"; die "step certificate create (intermediate) failed: $out"; }
    pair_ok "$next_int.tmp" "$next_int_key.tmp" || die "the new intermediate does not match its key"
    mv -f "$next_int_key.tmp" "$next_int_key"
    mv -f "$next_int.tmp" "$next_int"
    echo "did: made an intermediate under the new root"
  fi
  if grep -qxF -- "$both_roots_line" "$conf"; then echo "did: ca.json already trusts both roots"
  else set_root_line "$single_root_line" "$both_roots_line"; echo "did: ca.json trusts both roots"; fi
  ;;
activate)
  [ -f "$next_root" ] || die "no new root in the CA volume: run rotate-ca root prepare first"
  grep -qxF -- "$both_roots_line" "$conf" || die "ca.json does not trust both roots: run rotate-ca root prepare first"
  if under "$int" "$next_root"; then echo "did: the intermediate under the new root was already installed"; exit 0; fi
  pair_ok "$next_int" "$next_int_key" && under "$next_int" "$next_root" || die "no usable intermediate under the new root: run rotate-ca root prepare again"
  cp "$int" "$int.bak.tmp" && mv -f "$int.bak.tmp" "$int.previous"
  cp "$int_key" "$int_key.bak.tmp" && mv -f "$int_key.bak.tmp" "$int_key.previous"
  mv -f "$next_int_key" "$int_key"
  mv -f "$next_int" "$int"
  echo "did: installed the intermediate under the new root (the previous pair kept as *.previous)"
  ;;
retire)
  if [ -f "$next_root" ]; then
    under "$int" "$next_root" || die "the CA does not issue under the new root yet: run rotate-ca root activate first"
    put "$next_root" "$root"; chmod 644 "$root"
    echo "did: the new root is the CA's root (certs/root_ca.crt)"
  fi
  under "$int" "$root" || die "the CA's intermediate does not chain to certs/root_ca.crt: inspect the CA volume before going on"
  if grep -qxF -- "$both_roots_line" "$conf"; then set_root_line "$both_roots_line" "$single_root_line"; echo "did: ca.json trusts the new root alone"; fi
  grep -qxF -- "$single_root_line" "$conf" || die "ca.json does not name $root as its root: set it by hand, then run again"
  if [ -f "$root_dir/root_ca.next.crt" ]; then
    cmp -s "$root_dir/root_ca.next.crt" "$root" || die "the new root in the root-key volume is not the CA's root now: resolve by hand"
    mv -f "$root_dir/root_ca_key.next" "$root_dir/root_ca_key"
    mv -f "$root_dir/root_ca.next.crt" "$root_dir/root_ca.crt"
    echo "did: the new root key replaced the old one in the root-key volume (the old key is deleted)"
  fi
  rm -f "$next_root" "$roots" "$record"
  echo "did: retired the old root"
  ;;
*) die "unknown phase $phase" ;;
esac
`;

export interface RootJob {
  readonly name: string;
  readonly prefix: string;
  readonly image: string;
  readonly caVolume: string;
  /** Mounted (read-write) for prepare and retire only. */
  readonly rootKeyVolume?: string;
  readonly phase: RootPhase;
  readonly rootSubject: string;
  readonly intermediateSubject: string;
  /** Not after of the new root and its intermediate (RFC 3339). */
  readonly notAfter: string;
}

export function rootJobArgs(job: RootJob): { flags: string[]; image: string; args: string[] } {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(job.notAfter))
    throw new Error(`notAfter must be RFC 3339 UTC without fractions, got ${JSON.stringify(job.notAfter)}`);
  for (const subject of [job.rootSubject, job.intermediateSubject]) {
    if (!/^[A-Za-z0-9 ._-]{1,64}$/.test(subject))
      throw new Error(`a subject must be 1-64 letters, digits, spaces, dots, dashes or underscores, got ${JSON.stringify(subject)}`);
  }
  if ((job.phase === 'prepare' || job.phase === 'retire') && !job.rootKeyVolume) throw new Error(`rotate-ca root ${job.phase} needs the root-key volume`);
  const rootKey = job.rootKeyVolume && job.phase !== 'activate' ? { volume: job.rootKeyVolume, readOnly: false } : undefined;
  const flags = caJobFlags({ name: job.name, prefix: job.prefix, caVolume: job.caVolume, rootKey });
  return { flags, image: job.image, args: ['-s', '--', job.phase, ROOT_KEY_DIR, job.rootSubject, job.intermediateSubject, job.notAfter] };
}
