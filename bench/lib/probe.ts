// Readings from inside an engine, for figures the public API does not give: how many commits the
// store made (so each result can show the engine's commits per operation next to the floor's).
import type { Engine } from '../../lib';
import { engineInternals, type EngineEnvironment } from '../../lib/engine';
import { alternate, round } from './harness';

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

/**
 * `alternate` (engine and floor side by side) that also counts the engine's commits over the
 * measured rounds, per sample.
 */
export async function alternateCountingCommits(
  engine: Engine,
  options: Omit<Parameters<typeof alternate>[0], 'onMeasureStart'>,
): Promise<{ engine: number[]; floor: number[]; engineCommitsPerSample: number }> {
  let engineCommits = (): number => 0;
  const measured = await alternate({ ...options, onMeasureStart: () => (engineCommits = countCommits(engine)) });
  return { ...measured, engineCommitsPerSample: round(engineCommits() / options.samples, 2) };
}
