// Draws docs/benchmarks.svg from a results JSON file: for every latency scenario and mode, the
// engine's and the floor's p50 (bar) and p99 (whisker) on a log scale, with DBOS's published p50
// marked where the issue gives one. Hand-written SVG, no dependency.
//
//   node --import tsx bench/chart.ts [results.json] [out.svg]
//   (defaults: docs/benchmarks.json → docs/benchmarks.svg)
import fs from 'node:fs';
import path from 'node:path';
import type { BenchResult } from './lib/harness';

/**
 * Reference p50s, in µs, of DBOS Transact 5.3 on a local PostgreSQL 15 (fsync on) from issue 5:
 * measured there, not by this suite. Drawn as markers, never as bars.
 */
export const DBOS_REFERENCE_P50_US: Readonly<Record<string, number>> = {
  roundtrip: 10_500,
  'event-latency': 11_500,
  checkout: 10_700,
};

const WIDTH = 980;
const LABEL_WIDTH = 190;
const VALUE_WIDTH = 230;
const PLOT_LEFT = LABEL_WIDTH;
const PLOT_RIGHT = WIDTH - VALUE_WIDTH;
const BAR_HEIGHT = 13;
const ROW_GAP = 4;
const MODE_GAP = 8;
const GROUP_GAP = 22;
const TOP = 84;
const COLORS = { engine: '#2563eb', floor: '#9ca3af', reference: '#dc2626', grid: '#e5e7eb', text: '#111827', muted: '#6b7280' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function formatMicroseconds(us: number): string {
  if (us >= 1_000_000) return `${(us / 1_000_000).toLocaleString('en-US', { maximumFractionDigits: 2 })} s`;
  if (us >= 1_000) return `${(us / 1_000).toLocaleString('en-US', { maximumFractionDigits: us >= 100_000 ? 0 : 1 })} ms`;
  return `${us.toLocaleString('en-US', { maximumFractionDigits: us >= 100 ? 0 : 1 })} µs`;
}

/** The SVG text of the chart for `results` (rows without p50/p99 are left out). */
export function renderChart(results: readonly BenchResult[], title = 'durablite latency next to its SQLite floor'): string {
  const rows = results.filter((result) => typeof result.p50 === 'number' && typeof result.p99 === 'number' && typeof result.floorP50 === 'number');
  const scenarios = [...new Set(rows.map((result) => result.scenario))];
  const values = rows.flatMap((result) => [result.p50!, result.p99!, result.floorP50!, result.floorP99 ?? result.floorP50!]);
  for (const scenario of scenarios) if (DBOS_REFERENCE_P50_US[scenario] !== undefined) values.push(DBOS_REFERENCE_P50_US[scenario]!);
  const positive = values.filter((value) => value > 0);
  const minDecade = Math.floor(Math.log10(Math.min(...positive, 10)));
  const maxDecade = Math.ceil(Math.log10(Math.max(...positive, 100)));
  const x = (us: number): number =>
    PLOT_LEFT + ((Math.log10(Math.max(us, 10 ** minDecade)) - minDecade) / (maxDecade - minDecade)) * (PLOT_RIGHT - PLOT_LEFT);

  const parts: string[] = [];
  let y = TOP;
  for (const scenario of scenarios) {
    const groupTop = y;
    parts.push(`<text x="8" y="${y + 11}" font-weight="bold" fill="${COLORS.text}">${escapeXml(scenario)}</text>`);
    y += 18;
    for (const result of rows.filter((row) => row.scenario === scenario)) {
      const bars: [string, string, number, number][] = [
        ['engine', COLORS.engine, result.p50!, result.p99!],
        ['floor', COLORS.floor, result.floorP50!, result.floorP99 ?? result.floorP50!],
      ];
      for (const [who, color, p50, p99] of bars) {
        const middle = y + BAR_HEIGHT / 2;
        parts.push(
          `<text x="${LABEL_WIDTH - 8}" y="${middle + 4}" text-anchor="end" fill="${COLORS.muted}">${result.mode} · ${who}</text>`,
          `<rect x="${PLOT_LEFT}" y="${y}" width="${Math.max(1, x(p50) - PLOT_LEFT).toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}"/>`,
          `<line x1="${x(p50).toFixed(1)}" y1="${middle}" x2="${x(p99).toFixed(1)}" y2="${middle}" stroke="${color}" stroke-width="1.5"/>`,
          `<line x1="${x(p99).toFixed(1)}" y1="${y + 2}" x2="${x(p99).toFixed(1)}" y2="${y + BAR_HEIGHT - 2}" stroke="${color}" stroke-width="1.5"/>`,
          `<text x="${PLOT_RIGHT + 8}" y="${middle + 4}" fill="${COLORS.text}">p50 ${formatMicroseconds(p50)} · p99 ${formatMicroseconds(p99)}</text>`,
        );
        y += BAR_HEIGHT + ROW_GAP;
      }
      y += MODE_GAP;
    }
    const reference = DBOS_REFERENCE_P50_US[scenario];
    if (reference !== undefined) {
      const referenceX = x(reference).toFixed(1);
      parts.push(
        `<line x1="${referenceX}" y1="${groupTop + 16}" x2="${referenceX}" y2="${y - MODE_GAP}" stroke="${COLORS.reference}" stroke-width="1.5" stroke-dasharray="4 3"/>`,
        `<text x="${referenceX}" y="${groupTop + 11}" text-anchor="middle" fill="${COLORS.reference}">DBOS p50 ${formatMicroseconds(reference)} (reference)</text>`,
      );
    }
    y += GROUP_GAP;
  }
  const bottom = y - GROUP_GAP + 6;

  const grid: string[] = [];
  for (let decade = minDecade; decade <= maxDecade; decade++) {
    const gridX = x(10 ** decade).toFixed(1);
    grid.push(
      `<line x1="${gridX}" y1="${TOP - 6}" x2="${gridX}" y2="${bottom}" stroke="${COLORS.grid}"/>`,
      `<text x="${gridX}" y="${bottom + 16}" text-anchor="middle" fill="${COLORS.muted}">${formatMicroseconds(10 ** decade)}</text>`,
    );
  }
  const height = bottom + 48;
  const legendY = bottom + 38;
  const legend = [
    `<rect x="${PLOT_LEFT}" y="${legendY - 10}" width="14" height="10" fill="${COLORS.engine}"/>`,
    `<text x="${PLOT_LEFT + 20}" y="${legendY}" fill="${COLORS.text}">engine</text>`,
    `<rect x="${PLOT_LEFT + 80}" y="${legendY - 10}" width="14" height="10" fill="${COLORS.floor}"/>`,
    `<text x="${PLOT_LEFT + 100}" y="${legendY}" fill="${COLORS.text}">floor: the unavoidable work, measured beside it</text>`,
    `<text x="${PLOT_LEFT + 410}" y="${legendY}" fill="${COLORS.muted}">bar: p50 · whisker: p99 · log scale</text>`,
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="24" font-size="16" font-weight="bold" fill="${COLORS.text}">${escapeXml(title)}</text>`,
    `<text x="8" y="42" fill="${COLORS.muted}">p50 and p99 per scenario and durability mode (PRAGMA synchronous FULL / NORMAL), lower is better.</text>`,
    `<text x="8" y="57" fill="${COLORS.muted}">Red markers: DBOS Transact on PostgreSQL, reference figures quoted in issue 5, not measured by this suite.</text>`,
    ...grid,
    ...parts,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}

if (require.main === module) {
  const root = path.join(__dirname, '..');
  const input = process.argv[2] ?? path.join(root, 'docs', 'benchmarks.json');
  const output = process.argv[3] ?? path.join(root, 'docs', 'benchmarks.svg');
  const results = JSON.parse(fs.readFileSync(input, 'utf8')) as BenchResult[];
  fs.writeFileSync(output, renderChart(results));
  console.log(`Wrote ${output}`);
}
