// docs/api.md covers the whole public API: every name that lib/index.ts (`durablite`) and
// lib/testing.ts (`durablite/testing`) export, values and types alike, has its own heading.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.join(__dirname, '..');

/** The names a module exports, as the TypeScript compiler sees them (types included). */
function exportedNames(files: string[]): Map<string, string[]> {
  const program = ts.createProgram(files, { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, experimentalDecorators: true, noEmit: true });
  const checker = program.getTypeChecker();
  return new Map(files.map((file) => {
    const source = program.getSourceFile(file);
    if (source === undefined) throw new Error(`TypeScript could not read ${file}`);
    const moduleSymbol = checker.getSymbolAtLocation(source)!;
    return [path.relative(root, file), checker.getExportsOfModule(moduleSymbol).map((symbol) => symbol.getName()).sort()];
  }));
}

describe('docs/api.md', () => {
  const page = fs.readFileSync(path.join(root, 'docs', 'api.md'), 'utf8');
  const headings = new Set(
    page.split('\n').flatMap((line) => {
      const heading = /^#{2,4}\s+(.+)$/.exec(line);
      return heading === null ? [] : [heading[1]!.replace(/`/g, '').trim()];
    }),
  );
  const exports = exportedNames([path.join(root, 'lib', 'index.ts'), path.join(root, 'lib', 'testing.ts')]);

  test.each([...exports.keys()])('every export of %s has a heading of its own', (file) => {
    const names = exports.get(file)!;
    expect(names.length).toBeGreaterThan(file.endsWith('index.ts') ? 40 : 3);
    expect(names.filter((name) => !headings.has(name))).toEqual([]);
  });
});
