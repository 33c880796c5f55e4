import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';

/**
 * Issue 17, point 5: a TypeScript client generated from openapi.json by openapi-typescript compiles
 * against typed calls a client makes (the event types of /event/type/list, a webhook create body, an
 * error's code), and refuses what the document rules out. No api runs: the committed document is the
 * one /docs-json serves (test/api/openapi-artifact.e2e-spec.ts).
 */

const root = path.join(__dirname, '..', '..');

/** Typed uses of the generated `paths` and `components`: each must compile. */
const CALLS = `
import type { components, paths } from './ipm';

type Ok<P extends keyof paths, M extends 'post' | 'get' | 'put'> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer B } } };
}
  ? B
  : never;
type Body<P extends keyof paths> = paths[P]['post'] extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;

declare const types: Ok<'/ipm/event/type/list', 'post'>;
export const first: string | undefined = types.data.items[0];
export const next: string | undefined = types.data.next_token;

export const create: Body<'/ipm/webhook/create'> = {
  endpoint_url: 'https://example.test/hooks',
  name: 'orders',
  event_filters: [{ service: 'rfp', action: 'created' }],
};
export const list: Body<'/ipm/webhook/list'> = { limit: 1000 };

declare const failure: components['schemas']['ErrorEnvelopeDto'];
export const code: 'validation_failed' | 'rate_limited' | 'idempotency_key_in_progress' | string = failure.error.code;
export const retryable: boolean = failure.error.code === 'rate_limited' || failure.error.code === 'service_unavailable';
export const expected: string | undefined = failure.error.details?.[0]?.expected;
export const allowed: string[] | undefined = failure.error.details?.[0]?.allowed;

type Replayed = paths['/ipm/webhook/create']['post']['responses'][200]['headers']['idempotent-replayed'];
export const replayed: Replayed = 'true';
type Limited = paths['/ipm/webhook/create']['post']['responses'][429]['headers']['retry-after'];
export const wait: Limited = 2;
declare const audit: components['schemas']['AuditRecordDto'];
export const orgcode: string | undefined = audit.request_context?.orgcode;
`;

/** What the document rules out: each line must fail to compile. */
const REFUSED = [
  // Request schemas are closed.
  `export const x: Body<'/ipm/webhook/create'> = { endpoint_url: 'https://e.test', name: 'n', colour: 'red' };`,
  // error.code is an enum of the codes the api returns.
  `export const y: components['schemas']['ErrorBodyDto']['code'] = 'no_such_code';`,
];

function diagnostics(dir: string, file: string, text: string): string[] {
  writeFileSync(path.join(dir, file), text);
  const program = ts.createProgram([path.join(dir, file)], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    types: [],
    skipLibCheck: false,
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('a client generated from openapi.json by openapi-typescript', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ipm-client-'));
    // Its `bin` (the package's exports do not expose the file to require.resolve).
    const cli = path.join(root, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
    // Defaults (limit 8, order desc, ...) are what the api assumes when a field is absent: optional in a
    // request, as `--default-non-nullable false` generates them (openapi-typescript's default makes them required).
    const out = path.join(dir, 'ipm.d.ts');
    execFileSync(
      process.execPath,
      [cli, path.join(root, 'openapi.json'), '-o', out, '--default-non-nullable', 'false'],
      {
        stdio: 'pipe',
      },
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles typed calls (event types, a webhook create body, error codes and details, headers)', () => {
    expect(diagnostics(dir, 'calls.ts', CALLS)).toEqual([]);
  });

  it.each(REFUSED)('refuses what the document rules out: %s', (line) => {
    const header = CALLS.split('\n').slice(0, 16).join('\n');
    expect(diagnostics(dir, 'refused.ts', `${header}\n${line}\n`).length).toBeGreaterThan(0);
  });
});
