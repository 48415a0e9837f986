// B3's profile summary: self time merged per function and place, idle left out.
import { describe, expect, it } from 'vitest';

import { topFrames } from '../../../bench/lib/cpu-profile.js';

const node = (id: number, functionName: string, url: string, lineNumber: number, hitCount: number) => ({
  id,
  callFrame: { functionName, url, lineNumber },
  hitCount,
});

describe('topFrames', () => {
  it('merges one function reached by two paths, leaves out idle time, and ranks by share of the busy samples', () => {
    const { frames, busySamples } = topFrames({
      nodes: [
        node(1, '(root)', '', -1, 0),
        node(2, '(idle)', '', -1, 900),
        node(3, 'handle', 'file:///app/server.mjs', 41, 30),
        node(4, 'handle', 'file:///app/server.mjs', 41, 20),
        node(5, 'writeHead', 'node:_http_server', 9, 25),
        node(6, '(garbage collector)', '', -1, 15),
        node(7, '', 'file:///app/server.mjs', 99, 10),
      ],
    });
    expect(busySamples).toBe(100);
    expect(frames).toEqual([
      { frame: 'handle app/server.mjs:42', selfPercent: 50 },
      { frame: 'writeHead node:_http_server:10', selfPercent: 25 },
      { frame: '(garbage collector)', selfPercent: 15 },
      { frame: '(anonymous) app/server.mjs:100', selfPercent: 10 },
    ]);
  });

  it('keeps the n busiest only', () => {
    const nodes = Array.from({ length: 20 }, (_, i) => node(i, `f${i}`, '', 0, i + 1));
    expect(topFrames({ nodes }, 3).frames.map((f) => f.frame)).toEqual(['f19', 'f18', 'f17']);
  });
});
