import * as docker from '../docker/commands.js';
import type { Stack } from '../workloads/handles.js';
import { ROTATION_RECORD } from './root-job.js';

/**
 * The CA's own record of a root rotation: when every workload was checked to
 * trust both roots (`preparedAt`) and when the CA began issuing under the new
 * root (`activatedAt`). It lives in the CA volume beside the files it
 * describes, so a lost .state/ or another operator's machine cannot make a
 * phase look complete. Each time is written only after the fact it stands for
 * was checked, and never moved earlier; a record of another new root counts
 * as no record. The retire job removes it.
 */
export interface RotationRecord {
  /** SHA-256 of the new root this record is about. */
  readonly newRoot: string;
  readonly preparedAt?: string;
  readonly activatedAt?: string;
}

export type RecordedPhase = 'preparedAt' | 'activatedAt';

const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** The record text read back: only well-formed times for `newRoot` count; anything else is no record. */
export function parseRotationRecord(text: string | undefined, newRoot: string): RotationRecord {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text ?? '') as Record<string, unknown>;
  } catch {
    return { newRoot };
  }
  if (!raw || typeof raw !== 'object' || raw.newRoot !== newRoot) return { newRoot };
  return { newRoot, ...(isTime(raw.preparedAt) ? { preparedAt: raw.preparedAt } : {}), ...(isTime(raw.activatedAt) ? { activatedAt: raw.activatedAt } : {}) };
}

/** The record in the CA volume (through the CA container); unreadable means none. */
export async function readRotationRecord(stack: Stack, newRoot: string): Promise<RotationRecord> {
  return parseRotationRecord(await docker.readFile(stack.ca.container, ROTATION_RECORD), newRoot);
}

/** Records `phase` at `at` unless the record already holds that phase for this root (the first time stands). */
export async function recordPhase(stack: Stack, newRoot: string, phase: RecordedPhase, at = new Date()): Promise<RotationRecord> {
  const record = await readRotationRecord(stack, newRoot);
  if (record[phase]) return record;
  const next: RotationRecord = { ...record, [phase]: at.toISOString() };
  await docker.writeFile(stack.ca.container, ROTATION_RECORD, `${JSON.stringify(next)}\n`, '0644');
  return next;
}
