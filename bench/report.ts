/** One measured figure, the raw limit it is held to, and why that limit. */
export interface Figure {
  /** What was measured, e.g. `GET /ipm/stat throughput`. */
  name: string;
  value: number;
  unit: 'req/s' | 'ms' | 'ops/s' | '%' | 'responses' | 'deliveries/s' | 'deliveries' | 'MB' | 's';
  /** `min`: the value must be at least the limit; `max`: at most. */
  bound: 'min' | 'max';
  limit: number;
}

export function passes(f: Figure): boolean {
  return f.bound === 'min' ? f.value >= f.limit : f.value <= f.limit;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function fmtValue(f: Figure, n: number): string {
  return `${fmt(n, f.unit === 'ms' ? 1 : f.unit === 's' ? 2 : 0)} ${f.unit}`;
}

/** `PASS  GET /ipm/stat throughput  9,812 req/s  (limit >= 8,000 req/s)` */
export function verdict(f: Figure): string {
  const op = f.bound === 'min' ? '>=' : '<=';
  return `${passes(f) ? 'PASS' : 'FAIL'}  ${f.name.padEnd(44)} ${fmtValue(f, f.value).padStart(16)}  (limit ${op} ${fmtValue(f, f.limit)})`;
}

export function section(title: string, lines: string[] = []): void {
  process.stdout.write(`\n== ${title}\n`);
  for (const line of lines) process.stdout.write(`   ${line}\n`);
}

export function line(text: string): void {
  process.stdout.write(`   ${text}\n`);
}
