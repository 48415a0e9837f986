import { COMMON_HELP, parseCli } from '../cli/flags.js';
import { UserError } from '../cli/ui.js';
import type { RootPhase } from './root-job.js';

export const ROTATE_CA_HELP = `Usage: npm run rotate-ca -- SUBCOMMAND [--prefix NAME] [--json]

Subcommands:
  intermediate    a new intermediate key and certificate under the same root,
                  installed into the CA, which then issues from it (no restart);
                  workloads move to it at their next renewal.
  root prepare    a new root and an intermediate under it; every app pins both
                  roots and trusts both (pins first, then bundles); the CA
                  accepts leaves under either. Still issues under the old root.
                  Fails, naming them, unless every workload's pin file and
                  root.crt read back holding both; run it again to complete.
  root activate   the CA issues from the intermediate under the new root;
                  workloads move to it at their next renewal. Refused unless
                  the CA recorded a complete prepare at least 15 s ago (every
                  app has loaded both roots) and every workload still trusts
                  both.
  root retire     once no valid leaf under the old root remains (checked in the
                  CA's log and every workload's files), the old root leaves
                  every bundle, then every pin set, then the CA, which is
                  reloaded until it serves the new root alone.
Every subcommand is safe to run again: a stopped run is completed.
npm run status shows the phase.

${COMMON_HELP}`;

export type RotateCommand = 'intermediate' | `root-${RootPhase}`;

const PHASES: readonly RootPhase[] = ['prepare', 'activate', 'retire'];

export interface RotateCli {
  readonly command?: RotateCommand;
  readonly prefix: string;
  readonly json: boolean;
  readonly help: boolean;
}

/** The rotate-ca command line; errors say what to type instead. */
export function parseRotateCli(argv: string[]): RotateCli {
  const cli = parseCli(argv, {}, ROTATE_CA_HELP);
  if (cli.help) return { prefix: cli.prefix, json: cli.json, help: true };
  const [sub, ...rest] = cli.positionals;
  const base = { prefix: cli.prefix, json: cli.json, help: false };
  if (sub === undefined) throw new UserError(`name what to rotate.\n\n${ROTATE_CA_HELP}`);
  if (sub === 'intermediate') {
    if (rest.length > 0) throw new UserError(`rotate-ca intermediate takes no arguments, got: ${rest.join(' ')}\n\n${ROTATE_CA_HELP}`);
    return { ...base, command: 'intermediate' };
  }
  if (sub === 'root') {
    const [phase, ...extra] = rest;
    if (!phase || !(PHASES as readonly string[]).includes(phase))
      throw new UserError(`rotate-ca root needs a phase: prepare, activate or retire${phase ? `, got ${JSON.stringify(phase)}` : ''}\n\n${ROTATE_CA_HELP}`);
    if (extra.length > 0) throw new UserError(`rotate-ca root ${phase} takes no more arguments, got: ${extra.join(' ')}`);
    return { ...base, command: `root-${phase as RootPhase}` };
  }
  if ((PHASES as readonly string[]).includes(sub)) throw new UserError(`did you mean: npm run rotate-ca -- root ${sub}`);
  throw new UserError(`unknown subcommand ${JSON.stringify(sub)}: use "intermediate" or "root prepare|activate|retire".\n\n${ROTATE_CA_HELP}`);
}
