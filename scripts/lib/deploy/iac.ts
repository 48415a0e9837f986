/**
 * What `cdktf synth|deploy|destroy|diff` does, without the cdktf CLI: run the
 * CDKTF app named in cdktf.json (`app`), then the engine (terraform or tofu)
 * in the synthesized stack's directory.
 *
 * The CLI spends about 3 s of every command loading modules it needs only to
 * translate HCL or generate bindings (jsii-rosetta, hcl2cdk, TypeScript) and
 * asking the engine its version four times; the stack it synthesizes is the
 * same JSON (test/unit/scripts/deploy/iac.test.ts compares the two), so
 * `npx cdktf deploy` still works on this project for anyone who prefers it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { $, type ProcessPromise } from 'zx';

/** A line of a command's output and when it arrived (ms after the start); the last one, empty, marks the exit. */
export interface TimedLine {
  readonly at: number;
  readonly text: string;
  /** Set on the lines a run adds itself, at the end of a phase. */
  readonly mark?: PhaseMark;
}

/** The phases a verb's run marks: the app synthesized, the outputs written, every container ready. */
export type PhaseMark = 'synthesized' | 'outputs' | 'ready';

/**
 * Terraform changes at most 10 resources at a time unless told otherwise; the
 * default mesh has about 25 containers, and with 10 slots a container that
 * takes a second to start holds up the rest.
 */
export const APPLY_PARALLELISM = 32;

/** The engine's arguments for each step of a verb (after synth). */
export function engineSteps(verb: 'deploy' | 'destroy' | 'diff'): string[][] {
  const init = ['init', '-input=false', '-no-color'];
  switch (verb) {
    case 'deploy':
      return [init, ['apply', '-auto-approve', '-input=false', '-no-color', `-parallelism=${APPLY_PARALLELISM}`]];
    case 'destroy':
      return [init, ['destroy', '-auto-approve', '-input=false', '-no-color', `-parallelism=${APPLY_PARALLELISM}`]];
    case 'diff':
      return [init, ['plan', '-input=false', '-no-color']];
  }
}

/** The `app` command of cdktf.json: how the CDKTF app is run. */
export async function appCommand(projectDir: string): Promise<string> {
  const config = JSON.parse(await readFile(path.join(projectDir, 'cdktf.json'), 'utf8')) as { app?: unknown };
  if (typeof config.app !== 'string' || config.app.trim() === '') throw new Error('cdktf.json has no "app" command');
  return config.app;
}

/** Outputs as `terraform output -json` prints them → `{ name: value }`, as `cdktf deploy --outputs-file` writes them per stack. */
export function outputValues(json: string): Record<string, unknown> {
  const parsed = JSON.parse(json) as Record<string, { value: unknown }>;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, v.value]));
}

/**
 * Runs commands one after another, recording when each line of their output
 * arrived (ms since the run began); `run` returns each command's exit code,
 * and the caller decides what a failure ends.
 */
export class TimedRun {
  readonly lines: TimedLine[] = [];
  stdout = '';
  stderr = '';
  private readonly started = Date.now();

  constructor(private readonly quiet: boolean) {}

  /** Adds a line of our own, marking the end of a phase, at the current time. */
  mark(mark: PhaseMark, text: string): void {
    this.lines.push({ at: Date.now() - this.started, text, mark });
    if (!this.quiet) console.log(text);
  }

  async run(proc: ProcessPromise): Promise<number> {
    const pending = { stdout: '', stderr: '' };
    for (const stream of ['stdout', 'stderr'] as const) {
      proc[stream].on('data', (chunk: Buffer) => {
        const at = Date.now() - this.started;
        const text = chunk.toString('utf8');
        this[stream] += text;
        const parts = (pending[stream] + text).split('\n');
        pending[stream] = parts.pop() ?? '';
        for (const line of parts) this.lines.push({ at, text: line });
      });
    }
    const out = await proc;
    const at = Date.now() - this.started;
    for (const rest of [pending.stdout, pending.stderr]) if (rest) this.lines.push({ at, text: rest });
    return out.exitCode ?? 1;
  }

  /** The exit marker: an empty line at the end. */
  end(): void {
    this.lines.push({ at: Date.now() - this.started, text: '' });
  }
}

/** A shell for one step of a TimedRun: output is collected, printed only when not quiet. */
export function stepShell(opts: { cwd: string; env: NodeJS.ProcessEnv; quiet: boolean }) {
  return $({ cwd: opts.cwd, env: opts.env, nothrow: true, quiet: opts.quiet, timeout: '30m' });
}
