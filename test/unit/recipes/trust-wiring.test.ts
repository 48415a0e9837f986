// The shell recipes hand their TLS library only the private trust file that
// recipes/lib/mtls-trust builds (recipes/README.md, "Trust file"), never
// $CERT_DIR/root.crt, and their images carry the tool. A reading of the
// scripts, a supplement to the tests that run them: curl and psql on the host
// (startup-*.test.ts), nginx and PostgreSQL in containers (e2e).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const read = (file: string) => readFileSync(fileURLToPath(new URL(`../../../recipes/${file}`, import.meta.url)), 'utf8');

/** Each recipe: its script, how it names root.crt there, and the lines that give its TLS library a CA file. */
const RECIPES = [
  {
    name: 'curl',
    script: 'curl/mtls-curl.sh',
    root: '"$CERT_DIR/root.crt"',
    tlsCa: () => [...read('curl/mtls-curl.sh').matchAll(/--cacert "[^"]+"/g)].map((m) => m[0]),
  },
  {
    name: 'psql',
    script: 'psql/mtls-psql',
    root: '"$CERT_DIR/root.crt"',
    tlsCa: () =>
      [...read('psql/mtls-psql').matchAll(/^\s*"\$where" "\$TARGET_PORT" .*sslrootcert.*$|^\s*"\$where" "\$TARGET_PORT" "\$WORKLOAD_NAME" (\S+)/gm)].map(
        (m) => `sslrootcert=${m[1]}`,
      ),
  },
  {
    name: 'nginx',
    script: 'nginx/mtls-nginx.sh',
    root: '"$CERT_DIR/root.crt"',
    tlsCa: () =>
      [...read('nginx/nginx.conf.in').matchAll(/^\s*(ssl_client_certificate|ssl_trusted_certificate|proxy_ssl_trusted_certificate) .*$/gm)].map((m) =>
        m[0].trim(),
      ),
  },
  // PostgreSQL's configuration is written by the cluster part of its entrypoint.
  {
    name: 'postgres',
    script: 'postgres/mtls-postgres',
    root: '"$ROOT"',
    tlsCa: () => [...read('postgres/postgres-cluster.sh').matchAll(/^ssl_(ca|cert|key)_file = .*$/gm)].map((m) => m[0]),
  },
] as const;

describe.each(RECIPES)('$name recipe: trust file wiring', ({ name, script, root, tlsCa }) => {
  it('builds its trust file from root.crt with mtls-trust', () => {
    expect(read(script)).toContain(`mtls-trust ${root} "$ROOT_PIN_FILE" `);
  });

  it('gives its TLS library a file of its own, never root.crt on the certs volume', () => {
    const lines = tlsCa();
    expect(lines.length, name).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toMatch(/CERT_DIR|\$ROOT\b|\$CERT\b|\$KEY\b|\/var\/run\/step/);
    // nginx and curl name the trust file directly; psql and PostgreSQL a set that was moved in after its checks.
    for (const line of lines.filter((l) => /ca_file|cacert|sslrootcert|certificate /.test(l))) expect(line).toMatch(/TRUST|trust\.crt|\$LIVE\/root\.crt/);
  });

  it('copies the tool into its image', () => {
    expect(read(`${name}/Dockerfile`)).toMatch(/^COPY .*\blib\/mtls-trust\b.* \/usr\/local\/bin\/(mtls-trust)?$/m);
  });
});
