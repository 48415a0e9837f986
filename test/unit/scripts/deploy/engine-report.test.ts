// `npm run status` names the engine in use and the one the stack's state records.
import { describe, expect, it } from 'vitest';

import { engineLine } from '../../../../scripts/lib/deploy/engine-report.js';

describe('engineLine', () => {
  it('shows the engine in use with its version and reason, and the recorded one', () => {
    expect(
      engineLine({
        inUse: { engine: 'tofu', version: '1.10.10', binary: 'tofu', chosenBy: 'MTLS_IAC=tofu' },
        recorded: { engine: 'tofu', version: '1.10.10' },
      }),
    ).toBe("engine: tofu 1.10.10 (MTLS_IAC=tofu); the stack's state records tofu 1.10.10");
  });

  it('says when the state predates the record, or there is no state', () => {
    const inUse = { engine: 'terraform', version: '1.11.4', binary: 'terraform' };
    expect(engineLine({ inUse, recorded: { version: '1.11.4' } })).toBe(
      "engine: terraform 1.11.4; the stack's state records no engine (written by 1.11.4; the next deploy records it)",
    );
    expect(engineLine({ inUse })).toBe("engine: terraform 1.11.4; the stack's state records nothing (not deployed)");
    expect(engineLine({})).toBe("engine: unknown (run npm run toolchain); the stack's state records nothing (not deployed)");
  });

  it('adds the warning on its own line when the engines differ', () => {
    const line = engineLine({
      inUse: { engine: 'tofu', version: '1.10.10', binary: 'tofu' },
      recorded: { engine: 'terraform' },
      warning: 'the stack is managed by terraform',
    });
    expect(line.split('\n')).toEqual(["engine: tofu 1.10.10; the stack's state records terraform", '! the stack is managed by terraform']);
  });
});
