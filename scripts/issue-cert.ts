#!/usr/bin/env tsx
/**
 * A host identity for an operator: key made here (0600, never sent), one-time
 * token minted inside the CA container, certificate from the CA, written as
 * root.crt, site.crt and site.key; then the exact commands that call each
 * server of the mesh from this host. A server answers 200 only when NAME is
 * on its allow-list (mesh.ts).
 */
import { COMMON_HELP, durationFlag, parseCli } from './lib/cli/flags.js';
import { createUi, main, table, UserError } from './lib/cli/ui.js';
import { callLine, forwardLine, hostReachable, issueOperatorCert, opensslLine } from './lib/identity/operator-identity.js';
import { loadStack } from './lib/workloads/handles.js';

const HELP = `Usage: tsx scripts/issue-cert.ts NAME [--out DIR] [--lifetime DUR] [--prefix NAME] [--json]

  NAME            the identity: NAME.<domain> and spiffe://<domain>/NAME (the mesh's
                  operators, e.g. "operator", are on every server's allow-list)
  --out DIR       where to write root.crt, site.crt, site.key (default .state/<prefix>/identities/NAME):
                  made 0700 if absent; an existing one must be yours, not a symbolic link, and
                  closed to group and others; files already in it are never overwritten
  --lifetime DUR  certificate lifetime within the CA's claims (default: the CA's default)
${COMMON_HELP}`;

await main(async () => {
  const cli = parseCli(process.argv.slice(2), { out: { type: 'string' }, lifetime: { type: 'string' } }, HELP);
  if (cli.help) return void console.log(HELP);
  if (cli.positionals.length !== 1) throw new UserError(`name exactly one identity.\n\n${HELP}`);
  const name = cli.positionals[0]!;
  const lifetime = durationFlag('lifetime', cli.values.lifetime);
  const stack = await loadStack(cli.prefix);
  const ui = createUi({ json: cli.json });
  const { identity, issued } = await ui.step(`issue a certificate for ${name}`, () => issueOperatorCert(stack, name, { outDir: cli.values.out, lifetime }));
  const calls = hostReachable(stack.outputs).map((w) => ({
    ...callLine(w, issued.dir, name),
    openssl: opensslLine(w, issued.dir),
    forward: forwardLine(stack.outputs, w),
  }));
  if (cli.json) {
    return void console.log(
      JSON.stringify({ identity, serial: issued.serial, notAfter: issued.notAfter.toISOString(), dir: issued.dir, files: issued.files, calls }, null, 2),
    );
  }
  console.log(
    table([{ identity: `${identity.dns_name} ${identity.uri}`, serial: issued.serial, 'not after': issued.notAfter.toISOString(), files: issued.dir }]),
  );
  console.log('\nCall each server of the mesh from this host:');
  for (const c of calls) {
    const forward = c.forward ? `${c.forward}  # forwards the loopback port the lines below call, until stopped\n` : '';
    console.log(`\n# ${c.workload}${c.allowed ? '' : ` (${name} is not on its allow-list: expect a refusal)`}\n${forward}${c.command}\n${c.openssl}`);
  }
});
