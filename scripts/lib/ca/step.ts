import { STEPPATH } from '../../../common/facts.js';
import { INTERMEDIATE_CRT } from '../ca-rotation/intermediate-job.js';
import { CA_ROOT_FILE, NEXT_ROOT, ROOTS_BUNDLE } from '../ca-rotation/root-job.js';
import { UserError } from '../cli/ui.js';
import { exec, execOk } from '../docker/commands.js';

/**
 * The step CLI, always run inside a container: the CA's own tools (the admin
 * channel is the Docker API) or a workload's renewer. Secrets never appear in
 * any process's argv (/proc/<pid>/cmdline is readable by every local user):
 * a token goes in on stdin, and a fixed shell line moves it into the
 * environment of the one step process that needs it (step reads every flag
 * from STEP_<FLAG>, here STEP_TOKEN; /proc/<pid>/environ is readable only by
 * that process's user and root).
 */
const CA_ROOT = CA_ROOT_FILE;
/**
 * The root step inside the CA container trusts for the CA's own TLS: the
 * CA's root, or — once a root rotation is activated, when the CA's TLS chains
 * to the new root — the new one. One file with one root: \`step ca token\`
 * puts its fingerprint into the token and refuses a bundle. A fixed line:
 * arguments follow it.
 */
const CA_ROOT_FLAG = `r=${CA_ROOT}; if [ -f ${NEXT_ROOT} ] && step certificate verify ${INTERMEDIATE_CRT} --roots ${NEXT_ROOT} >/dev/null 2>&1; then r=${NEXT_ROOT}; fi; set -- "$@" --root "$r";`;

/** argv for `step ARGS… --root <the CA's roots>` inside the CA container. */
function caStep(args: readonly string[]): string[] {
  return ['sh', '-c', `${CA_ROOT_FLAG} exec step "$@"`, 'ca-step', ...args];
}
const PROVISIONER_PASSWORD = `${STEPPATH}/secrets/provisioner_password`;
/** Inside the CA container the CA listens on its own loopback. */
const CA_LOCAL_URL = 'https://127.0.0.1:9000';
/** A compact JWS, as step prints a token. */
const TOKEN = /^[\w-]+\.[\w-]+\.[\w-]+$/;
/** A token's subject or SAN: one word (a DNS name, a URI, an IP), so a line of them can go to a shell loop. */
const TOKEN_WORD = /^[A-Za-z0-9._~:/%@+=-]{1,255}$/;

export interface CaRef {
  readonly container: string;
  readonly provisioner: string;
}

/** A root rotation is under way: its prepare step wrote both roots into the CA volume, and retire has not removed them. */
export async function rootRotationUnderWay(ca: CaRef): Promise<boolean> {
  return (await exec(ca.container, ['test', '-e', ROOTS_BUNDLE])).exitCode === 0;
}

export async function rootFingerprint(ca: CaRef): Promise<string> {
  return (await execOk(ca.container, ['step', 'certificate', 'fingerprint', CA_ROOT])).trim();
}

/** The root as the CA has it on disk (admin channel). */
export async function rootPem(ca: CaRef): Promise<string> {
  return execOk(ca.container, ['cat', CA_ROOT]);
}

/**
 * Mints a one-time token for `subject` and its SANs inside the CA container:
 * the provisioner's key and password never leave the CA volume.
 */
export async function caToken(
  ca: CaRef,
  opts: {
    subject: string;
    sans: readonly string[];
    /** token validity start (RFC 3339 or duration) */ tokenNotBefore?: string;
    /** token expiry; step's default is 5m */ tokenNotAfter?: string;
  },
): Promise<string> {
  const args = ['ca', 'token', opts.subject, ...opts.sans.flatMap((s) => ['--san', s])];
  args.push('--provisioner', ca.provisioner, '--password-file', PROVISIONER_PASSWORD, '--ca-url', CA_LOCAL_URL);
  if (opts.tokenNotBefore) args.push('--not-before', opts.tokenNotBefore);
  if (opts.tokenNotAfter) args.push('--not-after', opts.tokenNotAfter);
  const token = (await execOk(ca.container, caStep(args))).trim();
  if (!TOKEN.test(token)) throw new UserError(`step ca token in ${ca.container} did not return a token`);
  return token;
}

/** What a token is for: the certificate's subject and its SANs (one word each: DNS names, URIs, IPs). */
export interface TokenRequest {
  readonly subject: string;
  readonly sans: readonly string[];
}

/**
 * One token per request, minted in ONE exec in the CA container (the loop
 * runs `step ca token` once per line of stdin): enrolling N workloads costs
 * one exec for their tokens instead of N. A request whose mint failed gets
 * an Error in its place (step's words are on the exec's stderr).
 */
export async function caTokens(ca: CaRef, requests: readonly TokenRequest[]): Promise<Array<string | Error>> {
  if (requests.length === 0) return [];
  const cmd = tokensCommand(ca, requests);
  const out = await exec(ca.container, cmd.args, { input: cmd.input, timeout: '10m' });
  const lines = out.stdout.split('\n').filter(Boolean);
  const why = lastMeaningfulLine(out.stderr) || `exit ${out.exitCode}`;
  return requests.map((r, i) => (TOKEN.test(lines[i] ?? '') ? lines[i]! : new Error(`step ca token for ${r.subject} in ${ca.container} failed: ${why}`)));
}

/** The exec of caTokens: a fixed bash loop (argv holds no request), one request per line of stdin, one token or `!` per line of stdout. */
export function tokensCommand(ca: CaRef, requests: readonly TokenRequest[]): SecretCommand {
  for (const word of requests.flatMap((r) => [r.subject, ...r.sans])) {
    if (!TOKEN_WORD.test(word)) throw new UserError(`a token's subject and SANs are single words (a DNS name, a URI, an IP), got ${JSON.stringify(word)}`);
  }
  const loop =
    'while read -r -a w; do a=(); for s in "${w[@]:1}"; do a+=(--san "$s"); done; ' +
    'if t=$(step ca token "${w[0]}" "${a[@]}" "$@" </dev/null); then printf "%s\\n" "$t"; else echo "!"; fi; done';
  const args = ['--provisioner', ca.provisioner, '--password-file', PROVISIONER_PASSWORD, '--ca-url', CA_LOCAL_URL];
  return {
    args: ['bash', '-c', `${CA_ROOT_FLAG} ${loop}`, 'ca-tokens', ...args],
    input: requests.map((r) => `${[r.subject, ...r.sans].join(' ')}\n`).join(''),
  };
}

export interface CertificateRequest {
  readonly renewer: string;
  readonly subject: string;
  readonly token: string;
  readonly caUrl: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly rootFile: string;
  /** Certificate lifetime, within the provisioner's claims. @default the CA's default */
  readonly lifetime?: string;
}

/**
 * Exchanges a token for a certificate inside the workload's renewer: the key
 * pair and CSR are generated there and the key is written 0600 into the
 * workload's volume. The token goes in on stdin, then into step's environment.
 */
export async function caCertificate(req: CertificateRequest): Promise<{ ok: boolean; error: string }> {
  const cmd = certificateCommand(req);
  const out = await exec(req.renewer, cmd.args, { input: cmd.input });
  return { ok: out.exitCode === 0, error: lastMeaningfulLine(out.stderr) };
}

/** A command to run with `docker exec -i`: argv (no secrets) and what goes to stdin. */
export interface SecretCommand {
  readonly args: readonly string[];
  readonly input: string;
}

/**
 * Reads one line from stdin into STEP_TOKEN and execs `step <verb> "$@"` with
 * it in its environment only. The line is fixed: the token is never part of
 * any argv, neither bash's nor step's.
 */
const TOKEN_FROM_STDIN = 'IFS= read -r STEP_TOKEN; [ -n "$STEP_TOKEN" ] || { echo "no token on stdin" >&2; exit 2; }; export STEP_TOKEN; ';
const WITH_TOKEN_FROM_STDIN = `${TOKEN_FROM_STDIN}exec step "$@"`;
/**
 * Where an enrollment's pair waits before it is installed, and the commit
 * point of an install: the same `.next.` names as the renewer's
 * (images/step-ca/renewer.sh), so its crash recovery finishes an enrollment
 * interrupted after its commit point, or discards one interrupted before it.
 */
export const ENROLL_STAGING_PREFIX = '.enroll.';
export const INSTALL_COMMIT_PREFIX = '.next.';
/** Seconds an install waits for the renewer's install (a stat and four renames) to finish. */
const INSTALL_LOCK_SECONDS = 10;
/**
 * The same for `step ca certificate SUBJECT CRT KEY …`, but step writes the
 * pair beside CRT and KEY under staging names, and the pair is installed
 * under the renewer's install lock (an flock on their directory), key first,
 * by renames: the renewer never installs a rekey over half of it, and a
 * rekey that was in flight is dropped (it sees another pair). Then, in the
 * same exec, the key's mode, a NUL and the certificate installed: what
 * enrollment checks, without two more execs.
 */
const THEN_INSTALL =
  `${TOKEN_FROM_STDIN}c=$4 k=$5; d=\${c%/*}; sc=$d/${ENROLL_STAGING_PREFIX}\${c##*/} sk=$d/${ENROLL_STAGING_PREFIX}\${k##*/}; ` +
  `nc=$d/${INSTALL_COMMIT_PREFIX}\${c##*/} nk=$d/${INSTALL_COMMIT_PREFIX}\${k##*/}; set -- "\${@:1:3}" "$sc" "$sk" "\${@:6}"; ` +
  'step "$@" >&2 || exit $?; unset STEP_TOKEN; ' +
  `{ exec 9<"$d" && flock -w ${INSTALL_LOCK_SECONDS} 9; } || { rm -f -- "$sc" "$sk"; echo "no install lock on $d within ${INSTALL_LOCK_SECONDS}s" >&2; exit 75; }; ` +
  '{ mv -f -- "$sk" "$nk" && mv -f -- "$sc" "$nc" && mv -f -- "$nk" "$k" && mv -f -- "$nc" "$c"; } || { echo "could not install the new pair in $d" >&2; exit 74; }; ' +
  `stat -c %a -- "$k" && printf '\\000' && cat -- "$c"`;

function withTokenFromStdin(name: string, stepArgs: readonly string[], token: string, opts: { caRoots?: boolean; line?: string } = {}): SecretCommand {
  if (!token || /[\r\n]/.test(token)) throw new UserError(`${name}: a token must be a single non-empty line`);
  return { args: ['bash', '-c', `${opts.caRoots ? CA_ROOT_FLAG : ''}${opts.line ?? WITH_TOKEN_FROM_STDIN}`, name, ...stepArgs], input: token };
}

/** `step ca certificate` with the token in its environment (see WITH_TOKEN_FROM_STDIN); `install` stages, installs and reads back (THEN_INSTALL). */
export function certificateCommand(req: CertificateRequest, opts: { install?: boolean } = {}): SecretCommand {
  const args = [
    'ca',
    'certificate',
    req.subject,
    req.certFile,
    req.keyFile,
    '--ca-url',
    req.caUrl,
    '--root',
    req.rootFile,
    '--force',
    '--kty',
    'EC',
    '--curve',
    'P-256',
  ];
  if (req.lifetime) args.push('--not-after', req.lifetime);
  return withTokenFromStdin('ca-certificate', args, req.token, opts.install ? { line: THEN_INSTALL } : {});
}

/** caCertificate into staging files, installed under the renewer's lock, then the key's mode and the certificate installed, from the same exec. */
export async function caCertificateInstall(req: CertificateRequest): Promise<{ ok: true; keyMode: string; certPem: string } | { ok: false; error: string }> {
  const cmd = certificateCommand(req, { install: true });
  const out = await exec(req.renewer, cmd.args, { input: cmd.input });
  const cut = out.stdout.indexOf('\0');
  if (out.exitCode !== 0 || cut < 0) return { ok: false, error: lastMeaningfulLine(out.stderr) || `exit ${out.exitCode}` };
  return { ok: true, keyMode: out.stdout.slice(0, cut).trim(), certPem: out.stdout.slice(cut + 1) };
}

/** `step ca revoke` with the token in its environment (see WITH_TOKEN_FROM_STDIN). */
export function revokeCommand(serialDecimal: string, reason: string, token: string): SecretCommand {
  return withTokenFromStdin('ca-revoke', ['ca', 'revoke', serialDecimal, '--reason', reason, '--ca-url', CA_LOCAL_URL], token, { caRoots: true });
}

/** Asks the CA to renew a certificate (mTLS with the current one) without writing it. */
export async function tryRenew(
  renewer: string,
  opts: { caUrl: string; certFile: string; keyFile: string; rootFile: string },
): Promise<{ ok: boolean; error: string }> {
  const out = await exec(renewer, [
    'step',
    'ca',
    'renew',
    opts.certFile,
    opts.keyFile,
    '--ca-url',
    opts.caUrl,
    '--root',
    opts.rootFile,
    '--out',
    '/tmp/renew-probe.crt',
    '--force',
  ]);
  await exec(renewer, ['rm', '-f', '/tmp/renew-probe.crt']);
  return { ok: out.exitCode === 0, error: lastMeaningfulLine(out.stderr) };
}

/**
 * Passive revocation (step-ca's default): the CA refuses to renew or rekey
 * the serial. A revocation token for that serial is minted with the
 * provisioner, then spent, both inside the CA container.
 */
export async function revoke(ca: CaRef, serialHex: string, reason: string): Promise<'revoked' | 'already revoked'> {
  const serialDecimal = BigInt(`0x${serialHex}`).toString(10);
  const token = (
    await execOk(
      ca.container,
      caStep(['ca', 'token', serialDecimal, '--revoke', '--provisioner', ca.provisioner, '--password-file', PROVISIONER_PASSWORD, '--ca-url', CA_LOCAL_URL]),
    )
  ).trim();
  const cmd = revokeCommand(serialDecimal, reason, token);
  const out = await exec(ca.container, cmd.args, { input: cmd.input });
  if (out.exitCode === 0) return 'revoked';
  if (/already revoked/i.test(out.stderr + out.stdout)) return 'already revoked';
  throw new UserError(`revoking serial ${serialHex} failed in ${ca.container} (exit ${out.exitCode}): ${lastMeaningfulLine(out.stderr || out.stdout)}`);
}

function lastMeaningfulLine(text: string): string {
  const lines = text
    // eslint-disable-next-line no-control-regex -- ESC starts the colour codes this strips
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('Re-run with STEPDEBUG') && !l.startsWith('✔'));
  return lines.slice(-2).join(' ');
}
