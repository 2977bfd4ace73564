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
