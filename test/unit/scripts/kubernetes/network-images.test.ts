import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

import { extract } from 'tar-stream';
import { describe, expect, it } from 'vitest';

import { singleBinaryImage } from '../../../../scripts/lib/kubernetes/images.js';
import { NETWORK } from '../../../../scripts/lib/kubernetes/layout.js';
import { fenceRules, INPUT_CHAIN, jumpsToClusterChains } from '../../../../scripts/lib/kubernetes/network.js';

describe('the node fence', () => {
  it('lets pods reach pods only, and lets nothing but this machine reach the node address', () => {
    const [forward, input] = fenceRules();
    expect(forward).toEqual({
      chain: NETWORK.forwardChain,
      parent: 'FORWARD',
      rules: [
        ['-i', NETWORK.bridge, '-o', NETWORK.bridge, '-j', 'ACCEPT'],
        ['-i', NETWORK.bridge, '-j', 'REJECT'],
        ['-o', NETWORK.bridge, '-j', 'REJECT'],
      ],
    });
    expect(input!.chain).toBe(INPUT_CHAIN);
    expect(input!.rules.at(-1)).toEqual(['-d', `${NETWORK.nodeIp}/32`, '!', '-i', 'lo', '-j', 'REJECT']);
  });

  it('finds the built-in chains’ jumps to cluster chains, quoted comments included, and nothing else', () => {
    const listing = [
      '-P INPUT ACCEPT',
      '-N KUBE-FIREWALL',
      '-N DOCKER-USER',
      '-A INPUT -j KUBE-FIREWALL',
      '-A FORWARD -j DOCKER-USER',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP',
      '-A FORWARD -j MTLS-K8S-FORWARD',
    ].join('\n');
    expect(jumpsToClusterChains(listing)).toEqual([
      ['-D', 'INPUT', '-j', 'KUBE-FIREWALL'],
      ['-D', 'FORWARD', '-m', 'comment', '--comment', 'kubernetes forwarding rules', '-j', 'KUBE-FORWARD'],
      ['-D', 'FORWARD', '-j', 'MTLS-K8S-FORWARD'],
    ]);
  });
});

async function entries(archive: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const x = extract();
  Readable.from(archive).pipe(x);
  for await (const e of x) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.set(e.header.name, Buffer.concat(chunks));
  }
  return out;
}

describe('the pause image archive', () => {
  it('is an OCI layout whose blobs match their digests, naming the image for containerd', async () => {
    const archive = await singleBinaryImage('registry.k8s.io/pause:3.10.2', Buffer.from('\x7fELF fake'), { path: '/pause', user: '65535:65535' });
    const files = await entries(archive);
    for (const [name, body] of files) {
      if (name.startsWith('blobs/sha256/')) expect(createHash('sha256').update(body).digest('hex'), name).toBe(name.slice('blobs/sha256/'.length));
    }
    const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests[0]!.annotations['io.containerd.image.name']).toBe('registry.k8s.io/pause:3.10.2');
    const manifest = JSON.parse(files.get(`blobs/sha256/${index.manifests[0]!.digest.slice(7)}`)!.toString()) as { config: { digest: string } };
    const config = JSON.parse(files.get(`blobs/sha256/${manifest.config.digest.slice(7)}`)!.toString()) as { config: Record<string, unknown> };
    expect(config.config).toEqual({ User: '65535:65535', Entrypoint: ['/pause'] });
  });
});
