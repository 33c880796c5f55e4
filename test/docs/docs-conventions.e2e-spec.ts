import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ErrorCode, IdPrefix } from '@ipm/core';
import { ALL_PERMISSIONS } from '@ipm/auth';

/**
 * Keeps docs/api-conventions.md in step with the code (every error code the api renders, every permission,
 * every id prefix), and every relative link of the guides pointing at a file and heading that exist.
 */

const DOCS = join(__dirname, '..', '..', 'docs');
const read = (file: string): string => readFileSync(file, 'utf8');

/** The markdown table whose header row starts with `| <first> |`, as rows of trimmed cells. */
function table(markdown: string, first: string): string[][] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((l) => new RegExp(`^\\|\\s*${first}\\s*\\|`).test(l));
  if (header < 0) throw new Error(`no table starting with "| ${first} |"`);
  const rows: string[][] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.trimStart().startsWith('|')) break;
    rows.push(
      line
        .trim()
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

/** The first code span of each row's given column. */
function codes(rows: string[][], column: number): string[] {
  return rows.map((r) => /`([^`]+)`/.exec(r[column] ?? '')?.[1] ?? '').filter(Boolean);
}

/** GitHub's anchor of a heading: lower case, punctuation dropped (`-` and `_` kept), spaces to `-`. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set([...withoutCode.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchor(m[1])));
}

describe('docs/api-conventions.md', () => {
  const markdown = read(join(DOCS, 'api-conventions.md'));

  it('lists every error code the api renders, each with its status', () => {
    const rows = table(markdown, 'Status');
    const listed = codes(rows, 1);
    // uri_too_long is rendered by status (render-error.ts) without an ErrorCode constant.
    const rendered = [...Object.values(ErrorCode), 'uri_too_long'];
    expect(rendered.filter((c) => !listed.includes(c))).toEqual([]);
    expect(listed.filter((c) => !rendered.includes(c))).toEqual([]);
    expect(rows.filter((r) => !/^\d{3}$/.test(r[0])).map((r) => r.join(' | '))).toEqual([]);
  });

  it('lists every permission, and no other', () => {
    const listed = codes(table(markdown, 'Permission'), 0);
    expect([...listed].sort()).toEqual([...ALL_PERMISSIONS].sort());
  });

  it('lists every id prefix, and no other', () => {
    const listed = codes(table(markdown, 'Prefix'), 0);
    expect([...listed].sort()).toEqual(
      Object.values(IdPrefix)
        .map((p) => `${p}_`)
        .sort(),
    );
  });
});

describe('links between the guides', () => {
  const guides = readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(DOCS, f));
  // The repository's README and the performance guide beside the benchmark results link into the guides too.
  const linking = [...guides, join(DOCS, '..', 'README.md'), join(DOCS, '..', 'bench', 'README.md')];

  it('finds the guides', () => {
    expect(guides.map((g) => g.slice(DOCS.length + 1)).sort()).toEqual(
      expect.arrayContaining(['README.md', 'api-conventions.md', 'operating.md', 'receiving-webhooks.md']),
    );
  });

  it('points every relative link at an existing file and heading', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const guide of linking) {
      const markdown = read(guide);
      const prose = markdown.replace(/```[\s\S]*?```/g, '');
      for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        checked += 1;
        const [path, hash] = target.split('#');
        const file = path === '' ? guide : resolve(dirname(guide), path);
        if (!existsSync(file)) {
          broken.push(`${guide}: ${target} (no such file)`);
          continue;
        }
        if (hash !== undefined && file.endsWith('.md') && !anchorsOf(read(file)).has(hash)) {
          broken.push(`${guide}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(10);
  });
});
