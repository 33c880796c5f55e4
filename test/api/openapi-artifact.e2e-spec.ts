import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startApi, TestApi } from '../support/api';

/**
 * Issue 10, point 6 and issue 17, point 5: openapi.json (written by `npm run openapi` from Nest's preview
 * mode, without a database) is the document a running api serves at /docs-json, info.version (the
 * package version) included. `npm run openapi -- --check` keeps the file current; this keeps the
 * generator honest (the global prefix and its exclusions are set in both places).
 */
describe('openapi.json', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('equals what the running api serves at /docs-json, with the package version', async () => {
    const served = (await api.http().get('/docs-json').expect(200)).body as { info: { version: string } };
    const file = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'openapi.json'), 'utf8')) as {
      info: { version: string };
    };
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(served.info.version).toBe(version);
    expect(file.info.version).toBe(version);
    // toEqual ignores key order: the file sorts paths and schemas, the server lists them as registered.
    expect(file).toEqual(served);
  });
});
