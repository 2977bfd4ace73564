// The benchmark runner end to end on one quick scenario: it compiles, runs the scenario in a child
// process per durability mode and writes the documented JSON. Timings are never asserted: they
// belong to the machine, not to the code.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { runBenchmarks } from '../bench/run';

function collector(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

test('npm run bench -- checkout --quick --json FILE writes one result per durability mode, in the documented shape', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-bench-smoke-'));
  const file = path.join(folder, 'results.json');
  const out = collector();
  const err = collector();

  const code = await runBenchmarks(['checkout', '--quick', '--json', file], { out: out.stream, err: err.stream });

  expect({ code, errors: code === 0 ? '' : err.text() }).toEqual({ code: 0, errors: '' });
  const results = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>[];
  expect(results.map((result) => result.mode).sort()).toEqual(['FULL', 'NORMAL']);
  for (const result of results) {
    expect(result).toMatchObject({ scenario: 'checkout', unit: 'µs' });
    for (const key of ['engine', 'floor', 'ratio', 'p50', 'p99', 'floorP50', 'floorP99', 'peakRssMiB']) {
      expect({ key, finite: Number.isFinite(result[key]) }).toEqual({ key, finite: true });
    }
  }
  // The printed table has a row per result.
  expect(out.text()).toMatch(/\| checkout +\| FULL +\|/);
  expect(out.text()).toMatch(/\| checkout +\| NORMAL +\|/);
  fs.rmSync(folder, { recursive: true, force: true });
}, 180_000);

test('npm run bench -- prune --quick prunes its workflows beside a round trip and reports the batch pause next to the raw one', async () => {
  const out = collector();
  const err = collector();

  const code = await runBenchmarks(['prune', '--quick', '--mode', 'NORMAL'], { out: out.stream, err: err.stream });

  expect({ code, errors: code === 0 ? '' : err.text() }).toEqual({ code: 0, errors: '' });
  expect(out.text()).toMatch(/\| prune +\| NORMAL +\| µs +\|/);
  expect(out.text()).toMatch(/\| prune-rate +\| NORMAL +\| workflows\/s +\|/);
  expect(out.text()).toMatch(/\| prune-roundtrip +\| NORMAL +\| µs +\|/);
  expect(out.text()).toMatch(/prune NORMAL: samples 11, workflows 1,000, batchSize 100, batches 10,/);
}, 180_000);

test('npm run bench -- roundtrip checkout engines --store postgres starts its own PostgreSQL server and reports each scenario on it', async () => {
  const out = collector();
  const err = collector();
  const givenUrl = process.env.DURABLITE_BENCH_POSTGRES_URL;
  delete process.env.DURABLITE_BENCH_POSTGRES_URL; // the runner's embedded server, not the test run's
  try {
    const code = await runBenchmarks(
      ['roundtrip', 'checkout', 'engines', '--store', 'postgres', '--no-dbos', '--quick', '--samples', '20', '--warmup', '5', '--workflows', '5', '--floor-commits', '5'],
      { out: out.stream, err: err.stream },
    );

    expect({ code, errors: code === 0 ? '' : err.text() }).toEqual({ code: 0, errors: '' });
  } finally {
    if (givenUrl !== undefined) process.env.DURABLITE_BENCH_POSTGRES_URL = givenUrl;
  }
  expect(err.text()).toMatch(/Starting an embedded PostgreSQL server/);
  expect(out.text()).toMatch(/PostgreSQL \d+\.\d+ \(fsync on, synchronous_commit on\), embedded/);
  expect(out.text()).toMatch(/\| roundtrip +\| POSTGRES +\| µs +\|/);
  expect(out.text()).toMatch(/\| checkout +\| POSTGRES +\| µs +\|/);
  for (const engines of [1, 2, 3]) expect(out.text()).toMatch(new RegExp(`\\| engines-${engines} +\\| POSTGRES +\\| workflows/s +\\|`));
  expect(out.text()).toMatch(/- engines-3 POSTGRES: .*engines 3, workflowsPerEngine 5,/);
  expect(out.text()).not.toMatch(/\| (FULL|NORMAL) +\|/);
}, 240_000);
