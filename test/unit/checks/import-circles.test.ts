import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// Finds every import circle among the project's own TypeScript modules.
// Type-only imports count too: a type cycle still means two modules each own
// part of the other's concern, and it turns into a runtime cycle the moment a
// value is imported along the same edge.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const entries = ['main.ts', 'mesh.ts', 'stack', 'scripts', 'services', 'bench', 'common'];
const skippedDirectories = new Set(['node_modules', 'dist', 'cdktf.out']);

function typeScriptFiles(path: string): string[] {
  if (!existsSync(path)) return [];
  if (statSync(path).isFile()) return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  return readdirSync(path)
    .filter((name) => !skippedDirectories.has(name))
    .flatMap((name) => typeScriptFiles(join(path, name)));
}

/** Every module specifier of `file`: imports, re-exports, `import type`, dynamic `import()`. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) found.push(argument.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The project file a relative specifier names (NodeNext: `./x.js` is `./x.ts`), or undefined for packages. */
function resolveSpecifier(from: string, specifier: string, known: Set<string>): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = resolve(dirname(from), specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((candidate) => known.has(candidate));
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
function circles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) connect(node);
  return found;
}

describe('import circles', () => {
  const files = entries.flatMap((entry) => typeScriptFiles(join(root, entry)));
  const known = new Set(files);
  const graph = new Map(
    files.map((file) => [
      file,
      [...new Set(specifiers(file).map((specifier) => resolveSpecifier(file, specifier, known)))].filter((target): target is string => target !== undefined),
    ]),
  );

  it('reads the whole project (so an empty walk cannot pass)', () => {
    const edges = [...graph.values()].reduce((sum, targets) => sum + targets.length, 0);
    console.log(`import-circles: ${files.length} modules, ${edges} project-internal imports`);
    expect(files.length).toBeGreaterThan(100);
    expect(edges).toBeGreaterThan(files.length);
    expect(known.has(join(root, 'main.ts'))).toBe(true);
  });

  it('finds no circle among the project modules', () => {
    const named = circles(graph).map((component) => component.map((file) => relative(root, file)).join(' ↔ '));
    expect(named).toEqual([]);
  });
});
