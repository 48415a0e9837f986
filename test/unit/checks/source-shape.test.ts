// The shape the source keeps as it grows: no module over 300 lines, and no run
// of six meaningful lines written twice (one piece of code serves both places).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../../..');
const MAX_LINES = 300;
const RUN = 6;

/** Source the project writes: code in every language it uses, shell tools without an extension, Dockerfiles. */
const SOURCE = /\.(ts|mts|mjs|js|go|py|sh)$|(^|\/)Dockerfile[^/]*$|^recipes\/lib\/[^/.]+$|^recipes\/[a-z]+\/mtls-[a-z-]+$|^\.ci\/run$/;
const GENERATED = /^(bench\/results|node_modules|cdktf\.out)\//;

function sourceFiles(): string[] {
  return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((f) => SOURCE.test(f) && !GENERATED.test(f) && fs.existsSync(path.join(root, f)));
}

/** Import and re-export statements, however a formatter wraps them, and Go's import blocks: lists of names, not logic. */
const IMPORTS = /^(?:import|export)\s[^;]*?\sfrom\s+['"][^'"]+['"];?|^import \([^)]*\)/gm;

/** Lines that carry meaning: not blank, not a lone bracket, not an import or a comment. */
function meaningful(text: string): { line: string; at: number }[] {
  return text
    .replace(IMPORTS, (statement) => statement.replace(/[^\n]/g, ''))
    .split('\n')
    .map((raw, i) => ({ line: raw.trim(), at: i + 1 }))
    .filter(({ line }) => line.length > 3 && !/^(import\b|from\b|[}\])]|\/\/|#|\*|\/\*)/.test(line));
}

/** Places where RUN meaningful lines stand again (in another file, or later in the same one without overlap). */
function repeatedRuns(files: ReadonlyMap<string, string>): string[] {
  const first = new Map<string, { file: string; index: number; at: number }>();
  const found: string[] = [];
  for (const [file, text] of files) {
    const lines = meaningful(text);
    for (let i = 0; i + RUN <= lines.length; i++) {
      const key = lines
        .slice(i, i + RUN)
        .map((l) => l.line)
        .join('\n');
      const seen = first.get(key);
      if (!seen) first.set(key, { file, index: i, at: lines[i]!.at });
      else if (seen.file !== file || i - seen.index >= RUN) found.push(`${file}:${lines[i]!.at} repeats ${seen.file}:${seen.at}`);
    }
  }
  return found;
}

describe('source shape', () => {
  const files = sourceFiles();

  it('finds the source it judges', () => {
    for (const expected of ['settings.ts', 'recipes/go/server.go', 'recipes/python/app/server.py', 'recipes/lib/mtls-trust', '.ci/run'])
      expect(files).toContain(expected);
  });

  it(`has no module over ${MAX_LINES} lines`, () => {
    const long = files
      .map((f) => ({ f, lines: fs.readFileSync(path.join(root, f), 'utf8').split('\n').length - 1 }))
      .filter(({ lines }) => lines > MAX_LINES)
      .map(({ f, lines }) => `${f}: ${lines} lines`);
    expect(long).toEqual([]);
  });

  it(`writes no run of ${RUN} meaningful lines twice`, () => {
    expect(repeatedRuns(new Map(files.map((f) => [f, fs.readFileSync(path.join(root, f), 'utf8')])))).toEqual([]);
  });

  it('the repeat check sees a copied block and ignores brackets, imports and comments', () => {
    const block = [
      'const a = read(file);',
      'const b = parse(a);',
      'if (!b.ok) throw new Error(b.why);',
      'const c = b.value * 2;',
      'log(`c is ${c}`);',
      'return c;',
    ].join('\n');
    expect(
      repeatedRuns(
        new Map([
          ['x.ts', block],
          ['y.ts', `// copy\n${block}\n}`],
        ]),
      ),
    ).toEqual(['y.ts:2 repeats x.ts:1']);
    expect(repeatedRuns(new Map([['x.ts', `${block}\n${block}`]]))).toEqual(['x.ts:7 repeats x.ts:1']);
    const shell = [
      'import a from "a";',
      'import {',
      '  first,',
      '  second,',
      "} from './b.js';",
      'import (',
      '\t"crypto/tls"',
      ')',
      '}',
      '});',
      '// same comment',
      ' * doc line',
      '# shell comment',
      '',
      ')',
    ].join('\n');
    expect(
      repeatedRuns(
        new Map([
          ['x.ts', shell],
          ['y.ts', shell],
        ]),
      ),
    ).toEqual([]);
  });
});
