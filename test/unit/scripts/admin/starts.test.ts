// The stream of workload starts that `enroll --watch` acts on
// (scripts/lib/admin/starts.ts): its command on each target, and how it reads
// a stand-in kubectl that prints a watch's lines, stops on SIGTERM, or fails.
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useCluster } from '../../../../scripts/lib/admin/channel.js';
import { followStarts, startsArgv, workloadStarts } from '../../../../scripts/lib/admin/starts.js';
import type { StackOutputs } from '../../../../scripts/lib/deploy/stack-outputs.js';
import { makeTempDir } from '../../../helpers/pki.js';

const docker = { prefix: 'mtls' } as StackOutputs;
const kubernetes = { prefix: 'mtls', cluster: { kubectl: 'kubectl', kubeconfig: '', context: '' } } as StackOutputs;

describe('the command behind the starts', () => {
  afterAll(() => useCluster(undefined));

  it("on Docker: the engine's start events of the stack's containers, each as its workload label", () => {
    expect(startsArgv(docker)).toEqual([
      'docker',
      'events',
      '--filter',
      'label=io.mtls-reference.prefix=mtls',
      '--filter',
      'event=start',
      '--format',
      '{{index .Actor.Attributes "io.mtls-reference.workload"}}',
    ]);
  });

  it("on Kubernetes: a watch on the stack's pods, with the stack's kubeconfig and context, one line per change naming the workload", () => {
    useCluster({ bin: '/k/kubectl', kubeconfig: '/k/admin.kubeconfig', context: 'local' });
    expect(startsArgv(kubernetes)).toEqual([
      '/k/kubectl',
      '--kubeconfig',
      '/k/admin.kubeconfig',
      '--context',
      'local',
      'get',
      'pods',
      '--namespace',
      'mtls',
      '--selector',
      'io.mtls-reference.prefix=mtls',
      '--watch',
      '--output',
      'jsonpath={.metadata.labels.io\\.mtls-reference\\.workload}{"\\n"}',
    ]);
  });
});

describe('reading the stream', () => {
  let dir: { path: string; remove(): Promise<void> };

  beforeAll(async () => {
    dir = await makeTempDir('admin-starts-');
    // Prints a watch's lines (the CA's pod has no workload label: an empty line), then waits to be stopped; or fails at once.
    await writeFile(
      path.join(dir.path, 'kubectl'),
      `#!/usr/bin/env node
if (process.env.WATCH_FAILS) { process.stderr.write('error: You must be logged in to the server (Unauthorized)\\n'); process.exit(1); }
if (process.env.WATCH_CLOSES) {
  // The API server closes the first watch (kubectl then ends, exit 0); the second one stays open.
  const fs = require('node:fs');
  const first = !fs.existsSync(process.env.WATCH_CLOSES);
  fs.writeFileSync(process.env.WATCH_CLOSES, 'opened');
  if (first) { process.stdout.write('server\\n'); process.exit(0); }
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write('client\\n');
  setInterval(() => {}, 1000);
  return;
}
process.on('SIGTERM', () => process.exit(0));
process.stdout.write('server\\n\\nclient\\nserver\\n');
setInterval(() => {}, 1000);
`,
    );
    await chmod(path.join(dir.path, 'kubectl'), 0o755);
  });
  afterAll(async () => {
    useCluster(undefined);
    delete process.env.WATCH_FAILS;
    delete process.env.WATCH_CLOSES;
    await dir.remove();
  });

  it('yields each workload named, skips lines that name none, and returns once aborted, its child stopped', async () => {
    useCluster({ bin: path.join(dir.path, 'kubectl') });
    const stop = new AbortController();
    const seen: string[] = [];
    for await (const name of workloadStarts(kubernetes, stop.signal)) {
      seen.push(name);
      if (seen.length === 3) stop.abort();
    }
    expect(seen).toEqual(['server', 'client', 'server']);
  });

  it('a stream that ends on its own is an error that says what the command said', async () => {
    useCluster({ bin: path.join(dir.path, 'kubectl') });
    process.env.WATCH_FAILS = '1';
    const drain = async () => {
      for await (const name of workloadStarts(kubernetes, new AbortController().signal)) void name;
    };
    await expect(drain()).rejects.toThrow(/kubectl get pods --namespace … ended \(exit 1\): error: You must be logged in to the server \(Unauthorized\)$/);
  });

  it('a watch the server closes is opened again, the gap reported, and the starts after it still arrive', async () => {
    useCluster({ bin: path.join(dir.path, 'kubectl') });
    delete process.env.WATCH_FAILS;
    process.env.WATCH_CLOSES = path.join(dir.path, 'watch-opened');
    const stop = new AbortController();
    const starts: string[] = [];
    const gaps: string[] = [];
    await followStarts(
      kubernetes,
      stop.signal,
      {
        start: (name) => {
          starts.push(name);
          if (name === 'client') stop.abort();
        },
        gap: (why) => gaps.push(why.message),
      },
      { first: 10, max: 20 },
    );
    expect(starts).toEqual(['server', 'client']);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatch(/kubectl get pods --namespace … ended \(exit 0\): no output$/);
  });
});
