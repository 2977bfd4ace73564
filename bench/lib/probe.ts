// Readings from inside an engine, for figures the public API does not give: how many commits the
// store made (so each result can show the engine's commits per operation next to the floor's).
import type { Engine } from '../../lib';
import { engineInternals, type EngineEnvironment } from '../../lib/engine';

export function internalsOf(engine: Engine): EngineEnvironment {
  const env = engineInternals.get(engine);
  if (env === undefined) throw new Error('Not an engine opened by Engine.open.');
  return env;
}

/** Counts the engine's commits from now on: call the returned function to read the count. */
export function countCommits(engine: Engine): () => number {
  const store = internalsOf(engine).store;
  const start = store.commits;
  return () => store.commits - start;
}
