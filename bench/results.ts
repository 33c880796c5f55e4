// The suite's one report: bench/results/latest.json (one row per figure with a target) and bench/results/latest.md
// (the same as a Markdown table), written by bench/main.ts at the end of every `npm run bench [-- NAME]`.
// The functions that build them are pure; writeResults is the only I/O.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Figure, fmt, fmtValue, passes } from './report';

/** Where and when the figures were measured. */
export interface RunInfo {
  /** ISO 8601. */
  generated_at: string;
  node: string;
  cpus: number;
  /** 1, 5 and 15 minutes, as os.loadavg() at the start of the run. */
  load_average: number[];
  /** The benchmark run alone (`npm run bench -- NAME`), or null for the whole suite. */
  only: string | null;
}

export interface ResultRow {
  name: string;
  /** null when the figure is not a finite number (e.g. a latency with no request answered). */
  value: number | null;
  unit: Figure['unit'];
  /** The raw limit measured in the same run, or null when the benchmark measures none for this figure. */
  limit: number | null;
  /** value / limit, or limit / value when lower is better: the share of the raw limit reached; null without a limit. */
  ratio: number | null;
  target: number;
  higher_is_better: boolean;
  pass: boolean;
}

export interface Results extends RunInfo {
  results: ResultRow[];
}

/** Finite numbers to 3 decimals; anything else (NaN, ±Infinity) to null, as JSON would. */
function num(n: number | undefined): number | null {
  return n === undefined || !Number.isFinite(n) ? null : Math.round(n * 1000) / 1000;
}

export function toRow(f: Figure): ResultRow {
  const higherIsBetter = f.bound === 'min';
  const ratio =
    f.raw === undefined ? undefined : higherIsBetter ? f.value / f.raw : f.value === 0 ? undefined : f.raw / f.value;
  return {
    name: f.name,
    value: num(f.value),
    unit: f.unit,
    limit: num(f.raw),
    ratio: num(ratio),
    target: f.target,
    higher_is_better: higherIsBetter,
    pass: passes(f),
  };
}

/** Every Figure has a target, so one row per figure, in the order measured. */
export function toResults(info: RunInfo, figures: readonly Figure[]): Results {
  return { ...info, results: figures.map(toRow) };
}

/** latest.json's text, laid out as prettier lays it out (the repository's `prettier --check .` covers it). */
export function resultsJson(results: Results): string {
  return `${JSON.stringify(results, null, 2).replace(
    /"load_average": \[([^\]]*)\]/,
    (_, items: string) =>
      `"load_average": [${items
        .split(',')
        .map((s) => s.trim())
        .join(', ')}]`,
  )}\n`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function shown(row: ResultRow, n: number | null): string {
  return n === null ? 'n/a' : fmtValue(row, n);
}

/** latest.md's text: a line saying when and where, then one table row per figure, columns aligned as prettier does. */
export function resultsMarkdown(results: Results): string {
  const header = ['Figure', 'Value', 'Raw limit (same run)', 'Ratio', 'Target', 'Result'];
  const rows = results.results.map((r) => [
    cell(r.name),
    shown(r, r.value),
    shown(r, r.limit),
    r.ratio === null ? 'n/a' : fmt(r.ratio, 2),
    `${r.higher_is_better ? '>=' : '<='} ${shown(r, r.target)}`,
    r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(3, [...h].length, ...rows.map((r) => [...r[i]].length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c + ' '.repeat(widths[i] - [...c].length)).join(' | ')} |`;
  const passed = results.results.filter((r) => r.pass).length;
  return [
    '# Benchmark results',
    '',
    `Generated ${results.generated_at} by \`npm run bench${results.only ? ` -- ${results.only}` : ''}\` on node ` +
      `${results.node}, ${results.cpus} CPUs, load average ${results.load_average.map((l) => fmt(l, 2)).join(' ')} ` +
      `at the start: ${passed} of ${results.results.length} figures meet their targets. The raw limit is measured ` +
      'in the same run (e.g. a bare route, COPY, raw BullMQ + POST, a direct pg query); the ratio is the share of it ' +
      'reached (value / limit, or limit / value when lower is better).',
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
  ].join('\n');
}

/** Writes latest.json and latest.md under `dir` (created if missing); returns their paths. */
export function writeResults(dir: string, results: Results): string[] {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'latest.json');
  const md = join(dir, 'latest.md');
  writeFileSync(json, resultsJson(results));
  writeFileSync(md, resultsMarkdown(results));
  return [json, md];
}
