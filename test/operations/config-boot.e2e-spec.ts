import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const entry = path.join(root, 'dist/apps/api/main.js');

/** The built api, started with plain node, refuses a bad configuration before doing anything. */
describe('boot with a bad configuration', () => {
  beforeAll(() => {
    if (!existsSync(entry)) {
      const build = spawnSync('npx', ['nest', 'build', 'api'], { cwd: root, encoding: 'utf8' });
      if (build.status !== 0) throw new Error(`build failed: ${build.stderr}${build.stdout}`);
    }
  }, 180_000);

  it.each([
    ['API_PORT', 'not-a-port'],
    ['DATABASE_URL', 'mysql://root@localhost/x'],
    ['WEBHOOK_TARGET_ALLOWLIST', '10.0.0.0/99'],
    ['SECRETS_KEY', 'too-short'],
  ])('%s=%s stops boot with a message naming it', (name, value) => {
    const run = spawnSync(process.execPath, [entry], {
      cwd: root,
      env: { PATH: process.env.PATH, [name]: value },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(name);
    expect(run.stdout).not.toContain('listening');
  });
});
