import { COMMON_HELP, parseCli } from './cli.js';
import { UserError } from './ui.js';

export const ROTATE_CA_HELP = `Usage: npm run rotate-ca -- SUBCOMMAND [--prefix NAME] [--json]

Subcommands:
  intermediate   a new intermediate key and certificate under the same root,
                 installed into the CA, which then issues from it (no restart);
                 workloads move to it at their next renewal. Safe to run again.

Root rotation (prepare, activate, retire) is not implemented yet.

${COMMON_HELP}`;

export type RotateCommand = 'intermediate';

/** Subcommands that are planned, not implemented. */
const PLANNED = new Set(['prepare', 'activate', 'retire', 'root']);

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
  if (sub === undefined) throw new UserError(`name what to rotate.\n\n${ROTATE_CA_HELP}`);
  if (sub === 'intermediate') {
    if (rest.length > 0) throw new UserError(`rotate-ca intermediate takes no arguments, got: ${rest.join(' ')}\n\n${ROTATE_CA_HELP}`);
    return { command: 'intermediate', prefix: cli.prefix, json: cli.json, help: false };
  }
  if (PLANNED.has(sub)) throw new UserError(`rotate-ca ${sub}: root rotation is not implemented yet; only "intermediate" is.`);
  throw new UserError(`unknown subcommand ${JSON.stringify(sub)}: use "intermediate".\n\n${ROTATE_CA_HELP}`);
}
