import { $ } from 'zx';

import { projectDir } from '../../../scripts/lib/deploy/stack-instance.js';

/**
 * The operator scripts run as an operator runs them: `npx tsx scripts/<name>.ts …`
 * from the project, with CI=true (plain lines, no spinners); never throws, so a
 * test reads the exit code and the output it pins.
 */
export const operatorScript = $({ cwd: projectDir, nothrow: true, quiet: true, env: { ...process.env, CI: 'true' } });
