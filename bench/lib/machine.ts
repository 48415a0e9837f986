import os from 'node:os';

import { $, fs } from 'zx';

import { engineStatus } from '../../scripts/lib/toolchain/docker-engine.js';

export interface Machine {
  readonly date: string;
  readonly nproc: number;
  readonly memoryGiB: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly dockerServer: string;
  readonly node: string;
  readonly openssl: string;
  readonly nginx?: string;
}

/** The machine the figures come from: they mean nothing without it. */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await fs.readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const q = $({ quiet: true, nothrow: true, timeout: '10s' });
  const nproc = Number((await q`nproc`).stdout.trim()) || os.availableParallelism();
  const openssl = (await q`openssl version`).stdout.trim();
  const nginx = (await q`nginx -v`).stderr.trim().replace(/^nginx version:\s*/, '');
  return {
    date: new Date().toISOString(),
    nproc,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    cpuModel,
    kernel: `${os.type()} ${os.release()}`,
    dockerServer: (await engineStatus()).serverVersion ?? 'unknown',
    node: process.version,
    openssl,
    ...(nginx ? { nginx } : {}),
  };
}
