import { describe, expect, it } from 'vitest';

import { parseDuration } from '../../../stack/duration.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90],
    ['5m', 300],
    ['1h30m', 5400],
    ['24h', 86_400],
    ['1h1m1s', 3661],
    ['0h1s', 1],
  ])('%s is %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '5', 'm', '5 minutes', '5M', '1.5h', '-5m', '5ms', '1d', ' 5m', '5m '])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(`invalid duration "${text}": use Go syntax such as 90s, 5m or 1h30m`);
  });

  it.each(['0s', '0h0m'])('rejects the zero duration %j', (text) => {
    expect(() => parseDuration(text)).toThrow(`invalid duration "${text}": must be positive`);
  });
});
