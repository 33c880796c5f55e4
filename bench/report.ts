/**
 * One measured figure, the target it must meet, and (when the bench measures one in the same run) the raw limit:
 * what the bare machinery does on this machine right now, e.g. a bare route's req/s or COPY FROM's rows/s.
 */
export interface Figure {
  /** What was measured, e.g. `GET /ipm/stat throughput`. */
  name: string;
  value: number;
  unit: 'req/s' | 'ms' | 'ops/s' | '%' | 'responses' | 'deliveries/s' | 'deliveries' | 'MB' | 's';
  /** `min`: the value must be at least the target (higher is better); `max`: at most (lower is better). */
  bound: 'min' | 'max';
  /** The threshold PASS/FAIL is decided on. */
  target: number;
  /**
   * The raw limit measured in the same run, in the figure's unit (so that value / raw, or raw / value for `max`,
   * is the share of the limit reached). Absent when the bench measures none for this figure.
   */
  raw?: number;
}

export function passes(f: Figure): boolean {
  return f.bound === 'min' ? f.value >= f.target : f.value <= f.target;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtValue(f: Pick<Figure, 'unit'>, n: number): string {
  return `${fmt(n, f.unit === 'ms' ? 1 : f.unit === 's' ? 2 : 0)} ${f.unit}`;
}

/** `PASS  GET /ipm/stat throughput  9,812 req/s  (target >= 8,000 req/s, raw limit 19,000 req/s)` */
export function verdict(f: Figure): string {
  const op = f.bound === 'min' ? '>=' : '<=';
  const raw = f.raw === undefined ? '' : `, raw limit ${fmtValue(f, f.raw)}`;
  return `${passes(f) ? 'PASS' : 'FAIL'}  ${f.name.padEnd(44)} ${fmtValue(f, f.value).padStart(16)}  (target ${op} ${fmtValue(f, f.target)}${raw})`;
}

export function section(title: string, lines: string[] = []): void {
  process.stdout.write(`\n== ${title}\n`);
  for (const line of lines) process.stdout.write(`   ${line}\n`);
}

export function line(text: string): void {
  process.stdout.write(`   ${text}\n`);
}

/** A figure as one machine-readable line (`{"bench":"api","name":...}`), with or without a target. */
export interface JsonFigure {
  name: string;
  value: number;
  unit: string;
  /** The raw limit measured in this run, when there is one. */
  limit?: number;
  /** value / limit. */
  ratio?: number;
  target?: number;
  higher_is_better?: boolean;
  pass?: boolean;
}

export function printJson(bench: string, f: JsonFigure): void {
  const round = (n: number): number => Math.round(n * 1000) / 1000;
  const out: Record<string, unknown> = { bench, ...f, value: round(f.value) };
  if (f.limit !== undefined) out.limit = round(f.limit);
  if (f.ratio !== undefined) out.ratio = round(f.ratio);
  if (f.target !== undefined && f.higher_is_better !== undefined) {
    out.pass = f.higher_is_better ? f.value >= f.target : f.value <= f.target;
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Nearest-rank percentile `p` (0-100) of ascending `sorted`; `whenEmpty` when there is none. */
export function percentile(sorted: readonly number[], p: number, whenEmpty = 0): number {
  if (!sorted.length) return whenEmpty;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
