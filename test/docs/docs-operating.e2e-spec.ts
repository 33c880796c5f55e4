import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppConfig, loadConfig } from '@ipm/core';
import { DEV_JWT_SECRET, DEV_SECRETS_KEY } from '@ipm/core';

/**
 * Keeps docs/operating.md's configuration table and the config schema (libs/core/src/config/config.schema.ts)
 * in step: every variable of the schema has a row with its real default, and every row is a variable of the
 * schema, except rows marked `_Planned_` (a variable of work not merged yet), which must not be in the schema.
 */

const GUIDE = join(__dirname, '..', '..', 'docs', 'operating.md');

interface Row {
  name: string;
  defaultCell: string;
  meaning: string;
}

/** The rows of the markdown table whose header starts with `| Variable | Default | Meaning`. */
function configTable(markdown: string): Row[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((l) => /^\|\s*Variable\s*\|\s*Default\s*\|\s*Meaning\s*\|/.test(l));
  if (header < 0) throw new Error('no "| Variable | Default | Meaning |" table in docs/operating.md');
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0])?.[1];
    if (!name) throw new Error(`not a variable name in the first cell: ${line}`);
    rows.push({ name, defaultCell: cells[1], meaning: cells[2] });
  }
  return rows;
}

/** The default a table cell states, as the schema holds it: a code span, `unset`, `empty` or a development secret. */
function statedDefault(cell: string): unknown {
  const code = /^`([^`]*)`$/.exec(cell);
  if (code) return code[1];
  if (cell === 'unset') return undefined;
  if (cell === 'empty') return '';
  if (cell === 'a development secret') return DEV_JWT_SECRET;
  if (cell === 'a development key') return DEV_SECRETS_KEY;
  throw new Error(`unreadable default cell: ${cell}`);
}

const isPlanned = (row: Row): boolean => row.meaning.startsWith('_Planned');

describe('docs/operating.md: the configuration table', () => {
  const rows = configTable(readFileSync(GUIDE, 'utf8'));
  const keys = Object.keys(new AppConfig());
  const defaults = loadConfig({}) as unknown as Record<string, string | number | boolean | undefined>;

  it('reads a table of the expected size, each variable once', () => {
    expect(rows.length).toBeGreaterThanOrEqual(keys.length);
    const names = rows.map((r) => r.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it('has a row for every variable of the config schema', () => {
    const documented = new Set(rows.map((r) => r.name));
    const missing = keys.filter((k) => !documented.has(k));
    // Add a row (variable, default, meaning) to docs/operating.md for each.
    expect(missing).toEqual([]);
  });

  it('documents no variable the schema lacks, unless marked _Planned_', () => {
    const unknown = rows.filter((r) => !keys.includes(r.name) && !isPlanned(r)).map((r) => r.name);
    expect(unknown).toEqual([]);
  });

  it('marks no variable of the schema _Planned_ (once merged, a row says what it does)', () => {
    expect(rows.filter((r) => keys.includes(r.name) && isPlanned(r)).map((r) => r.name)).toEqual([]);
  });

  it("states each variable's real default", () => {
    const wrong = rows
      .filter((r) => keys.includes(r.name))
      .map((r) => {
        const actual = defaults[r.name];
        const stated = statedDefault(r.defaultCell);
        const same = actual === undefined || stated === undefined ? actual === stated : String(actual) === stated;
        return same ? null : `${r.name}: the table says ${r.defaultCell}, the schema ${JSON.stringify(actual)}`;
      })
      .filter((w): w is string => w !== null);
    expect(wrong).toEqual([]);
  });

  it('gives every row a meaning', () => {
    expect(rows.filter((r) => r.meaning.length < 10).map((r) => r.name)).toEqual([]);
  });
});
