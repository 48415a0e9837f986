import { loadToolchain } from '../toolchain/index.js';
import { stackEngine } from './stack-instance.js';

export interface EngineReport {
  /** The engine the next deploy or destroy uses (the last toolchain run's choice). */
  readonly inUse?: { readonly engine: string; readonly version: string; readonly binary: string; readonly chosenBy?: string };
  /** The engine the stack's state records. */
  readonly recorded?: { readonly engine?: string; readonly version?: string };
  /** What to do when they differ. */
  readonly warning?: string;
}

/** Which engine manages a stack, and which one the toolchain would use next. */
export async function engineReport(prefix: string): Promise<EngineReport> {
  const tc = await loadToolchain().catch(() => undefined);
  const record = await stackEngine(prefix);
  const inUse = tc && { engine: tc.terraform.flavour, version: tc.terraform.version, binary: tc.terraform.binary, chosenBy: tc.terraform.chosenBy };
  const recorded = record && { engine: record.engine, version: record.version };
  const warning =
    inUse && record?.engine && record.engine !== inUse.engine
      ? `the stack is managed by ${record.engine} but the toolchain chose ${inUse.engine}: set MTLS_IAC=${record.engine}, or switch on purpose (MTLS_IAC_SWITCH=1)`
      : undefined;
  return { inUse, recorded, warning };
}

export function engineLine(r: EngineReport): string {
  const inUse = r.inUse ? `${r.inUse.engine} ${r.inUse.version}${r.inUse.chosenBy ? ` (${r.inUse.chosenBy})` : ''}` : 'unknown (run npm run toolchain)';
  const version = r.recorded?.version ? ` ${r.recorded.version}` : '';
  const recorded = !r.recorded
    ? 'nothing (not deployed)'
    : r.recorded.engine
      ? `${r.recorded.engine}${version}`
      : `no engine (written by${version || ' an unknown version'}; the next deploy records it)`;
  return `engine: ${inUse}; the stack's state records ${recorded}${r.warning ? `\n! ${r.warning}` : ''}`;
}
