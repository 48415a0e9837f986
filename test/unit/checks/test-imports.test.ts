// Test helpers shared by the unit and e2e suites live in test/helpers; an e2e
// file never reaches into the unit suite's own helpers (nor the reverse), so
// either suite can change its helpers without breaking the other.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

const TEST_DIR = path.resolve(import.meta.dirname, '../..');
const IMPORT = /(?:from\s+|import\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

async function tsFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name));
}

async function importsInto(fromSuite: 'e2e' | 'unit', otherSuite: 'e2e' | 'unit'): Promise<{ files: number; crossing: string[] }> {
  const files = await tsFiles(path.join(TEST_DIR, fromSuite));
  const crossing: string[] = [];
  for (const file of files) {
    for (const m of (await readFile(file, 'utf8')).matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), m[1]!);
      if (target.startsWith(path.join(TEST_DIR, otherSuite) + path.sep)) crossing.push(`${path.relative(TEST_DIR, file)} → ${m[1]}`);
    }
  }
  return { files: files.length, crossing };
}

describe('test suites import shared helpers from test/helpers only', () => {
  it('no e2e file imports from test/unit', async () => {
    const { files, crossing } = await importsInto('e2e', 'unit');
    expect(files).toBeGreaterThanOrEqual(25);
    expect(crossing).toEqual([]);
  });

  it('no unit file imports from test/e2e', async () => {
    const { files, crossing } = await importsInto('unit', 'e2e');
    expect(files).toBeGreaterThanOrEqual(80);
    expect(crossing).toEqual([]);
  });
});
