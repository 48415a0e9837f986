// Synthesis is pure: it needs no Docker engine and writes nothing but the
// app's output directory.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { Testing } from 'cdktf';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { MtlsStack } from '../../../stack/mtls-stack.js';
import { baseProps, PROJECT_DIR } from './fixtures.js';

describe('synth', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('succeeds with no Docker engine reachable and writes only the output dir', () => {
    // Nothing listens on port 1, the socket does not exist, and there is no
    // docker CLI on PATH: any attempt to talk to Docker would fail.
    vi.stubEnv('DOCKER_HOST', 'tcp://127.0.0.1:1');
    vi.stubEnv('DOCKER_CONTEXT', 'no-such-context');
    vi.stubEnv('PATH', '/nonexistent');
    const prefix = `synth${process.pid}`;
    const stateDir = path.join(PROJECT_DIR, '.state', prefix);
    expect(existsSync(stateDir)).toBe(false);

    const app = Testing.app();
    new MtlsStack(app, prefix, baseProps({ namePrefix: prefix }));
    app.synth();

    const written = path.join(app.outdir, 'stacks', prefix, 'cdk.tf.json');
    expect(existsSync(written)).toBe(true);
    const config = JSON.parse(readFileSync(written, 'utf8')) as { resource?: Record<string, unknown> };
    expect(Object.keys(config.resource ?? {}).sort()).toEqual(['docker_container', 'docker_image', 'docker_network', 'docker_volume']);
    // The local backend's state directory is created by Terraform, not by synth.
    expect(existsSync(stateDir)).toBe(false);
    expect(readdirSync(app.outdir)).toContain('manifest.json');
  });
});
