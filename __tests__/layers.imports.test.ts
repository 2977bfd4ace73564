// The layers import one way: index → { engine, client, testing, cli } → the faces' shared parts
// (the session that composes them, decorators, handler, options) → ops → contracts → { store,
// postgres, runtime } → the leaves (errors, types, validate, awaitable). Read from the sources'
// import lines (type-only imports count: they are arrows too), this fails on any import cycle and
// any import of a higher layer.
import fs from 'node:fs';
import path from 'node:path';

const lib = path.join(__dirname, '..', 'lib');

/** Each module's layer, by its path inside lib/; a module may import only its own layer or lower. */
function layerOf(module: string): number {
  const [top] = module.split('/');
  if (['errors.ts', 'types.ts', 'validate.ts', 'awaitable.ts'].includes(module)) return 0;
  if (top === 'store' || top === 'postgres' || top === 'runtime') return 1;
  if (module === 'contracts.ts') return 2;
  if (top === 'ops') return 3;
  if (['session.ts', 'decorators.ts', 'handler.ts', 'options.ts'].includes(module)) return 4;
  if (['engine.ts', 'client.ts', 'testing.ts'].includes(module) || top === 'cli') return 5;
  if (module === 'index.ts') return 6;
  throw new Error(`lib/${module} has no layer: add it to this test's map (and to docs/architecture.md).`);
}

/**
 * The folders of layer 1, which never import each other: the two stores are two implementations of
 * one interface (what they share belongs in a leaf), and runtime/ is memory and time, with no SQL.
 */
const SIDE_BY_SIDE = ['store', 'postgres', 'runtime'];

function sources(folder: string): string[] {
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** module (relative to lib/) → the lib modules it imports. */
function importGraph(): Map<string, string[]> {
  const files = sources(lib);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  const importLine = /(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const file of files) {
    const targets: string[] = [];
    for (const [, specifier] of fs.readFileSync(file, 'utf8').matchAll(importLine)) {
      const base = path.resolve(path.dirname(file), specifier!);
      const target = [`${base}.ts`, path.join(base, 'index.ts'), base].find((candidate) => known.has(candidate));
      if (target !== undefined) targets.push(path.relative(lib, target));
    }
    graph.set(path.relative(lib, file), targets);
  }
  return graph;
}

describe('the layers of lib/', () => {
  const graph = importGraph();

  test('no module imports a module of a higher layer; store/, postgres/ and runtime/ import each other only as postgres/ → store/', () => {
    const breaks: string[] = [];
    for (const [module, targets] of graph) {
      for (const target of targets) {
        if (layerOf(target) > layerOf(module)) breaks.push(`${module} imports ${target} (layer ${layerOf(target)} above its own ${layerOf(module)})`);
        const [from, to] = [module.split('/')[0]!, target.split('/')[0]!];
        // The PostgreSQL store implements the interface of store/store.ts and shares its codec.
        const allowed = from === 'postgres' && to === 'store';
        if (from !== to && !allowed && SIDE_BY_SIDE.includes(from) && SIDE_BY_SIDE.includes(to)) breaks.push(`${module} imports ${target}`);
      }
    }
    expect(breaks).toEqual([]);
    expect(graph.size).toBeGreaterThan(40);
  });

  test('no import cycle, type-only imports included', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const walk = (module: string, trail: string[]): void => {
      state.set(module, 'open');
      for (const target of graph.get(module) ?? []) {
        if (state.get(target) === 'open') cycles.push([...trail.slice(trail.indexOf(target)), module, target].join(' → '));
        else if (!state.has(target)) walk(target, [...trail, module]);
      }
      state.set(module, 'done');
    };
    for (const module of graph.keys()) if (!state.has(module)) walk(module, []);
    expect(cycles).toEqual([]);
  });
});
