import { describe, expect, it } from 'vitest';
import { table, UserError } from '../../../scripts/lib/ui.js';

describe('table', () => {
  it('aligns columns to the widest cell, underlines the header and trims trailing space', () => {
    const text = table([
      { name: 'server', requests: 1200, state: 'ok' },
      { name: 'client-long-name', requests: 7, state: 'renewing' },
    ]);
    expect(text.split('\n')).toEqual([
      'name              requests  state',
      '────────────────  ────────  ────────',
      'server            1200      ok',
      'client-long-name  7         renewing',
    ]);
  });

  it('takes the columns from the first row and leaves missing cells empty', () => {
    const text = table([{ a: 'x', b: 'y' }, { a: 'longer' }, { b: 'z', c: 'ignored' }]);
    expect(text.split('\n')).toEqual(['a       b', '──────  ─', 'x       y', 'longer', '        z']);
  });

  it('says "(none)" for no rows', () => {
    expect(table([])).toBe('(none)');
  });
});

describe('UserError', () => {
  it('is an Error named UserError carrying its message', () => {
    const error = new UserError('do this next');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('UserError');
    expect(error.message).toBe('do this next');
  });
});
