import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startApi, TestApi } from './support/api';

/**
 * Issue 10, point 6: openapi.json (written by `npm run openapi` from Nest's preview mode, without a
 * database) is the document a running api serves at /docs-json, apart from info.version (BUILD_ID
 * there, the package version in the file). `npm run openapi -- --check` keeps the file current; this
 * keeps the generator honest (the global prefix and its exclusions are set in both places).
 */
describe('openapi.json', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('equals what the running api serves at /docs-json (info.version aside)', async () => {
    const served = (await api.http().get('/docs-json').expect(200)).body as { info: { version: string } };
    const file = JSON.parse(readFileSync(path.join(__dirname, '..', 'openapi.json'), 'utf8')) as {
      info: { version: string };
    };
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(served.info.version).toBe(api.config.BUILD_ID);
    expect(file.info.version).toBe(version);
    // toEqual ignores key order: the file sorts paths and schemas, the server lists them as registered.
    expect({ ...file, info: { ...file.info, version: 'x' } }).toEqual({
      ...served,
      info: { ...served.info, version: 'x' },
    });
  });
});
