// Figures the engine reports through its typed events (engine.events) for the scenarios: how many
// commits it made, so each result can show the engine's commits per operation next to the floor's.
import type { Engine } from '../../lib';
import { alternate, round } from './harness';

/** Commits seen by each engine's one 'commit' listener, added on the first count asked of it. */
const commitsSeen = new WeakMap<Engine, { total: number }>();

/** Counts the engine's commits from now on (its 'commit' events): call the returned function to read the count. */
export function countCommits(engine: Engine): () => number {
  let seen = commitsSeen.get(engine);
  if (seen === undefined) {
    const counter = { total: 0 };
    engine.events.on('commit', () => counter.total++);
    commitsSeen.set(engine, counter);
    seen = counter;
  }
  const counter = seen;
  const start = counter.total;
  return () => counter.total - start;
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
