import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ALL_QUEUES } from '@ipm/queues';
import { startApi, TestApi, token } from '../support/api';

// Own BullMQ prefix, like every file that touches queues.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:dashboard-browser`;

/** Debian's chromium package (.ci/run installs it when missing). */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Screenshots land here (gitignored). */
const OUTPUT = path.resolve(__dirname, '..', '..', 'test-output');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

jest.setTimeout(60_000);

describe('queue dashboard in a real browser (headless Chromium against the api on a free port)', () => {
  let api: TestApi;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM}: install Debian's chromium package ` +
          '(apt-get install -y --no-install-recommends chromium; .ci/run does it)',
      );
    }
    api = await startApi();
    base = `http://127.0.0.1:${(api.app.getHttpServer().address() as AddressInfo).port}`;
    // A fresh, temporary profile: no cookie from any earlier run.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext();
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  async function submitToken(jwt: string): Promise<number | undefined> {
    await page.locator('#token').fill(jwt);
    const [response] = await Promise.all([page.waitForNavigation(), page.locator('#login button').click()]);
    return response?.status();
  }

  it('is refused without a token: the login form', async () => {
    const res = await page.goto(`${base}/admin/queues`);
    expect(res?.status()).toBe(401);
    await expect(page.locator('#login textarea[name="token"]').isVisible()).resolves.toBe(true);
    expect(await context.cookies()).toEqual([]);
  });

  it('refuses a JWT without operate_queues (403), and keeps no session', async () => {
    const viewer = await token(api.config, { sub: 'viewer_1', orgs: ['acme'], permissions: ['view_audit'] });
    expect(await submitToken(viewer)).toBe(403);
    expect(await page.locator('h1').textContent()).toBe('Access refused');
    await expect(page.locator('#message').textContent()).resolves.toContain('operate_queues');
    expect(page.url()).not.toContain(viewer);
    expect(await context.cookies()).toEqual([]);
  });

  it('an operator JWT opens Bull Board, which lists every queue', async () => {
    const operator = await token(api.config, { sub: 'ops_1', orgs: [], permissions: ['operate_queues'] });
    await page.goto(`${base}/admin/queues`);
    expect(await submitToken(operator)).toBe(200);
    expect(page.url()).toBe(`${base}/admin/queues`);
    for (const name of ALL_QUEUES) {
      await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
    }
    const [session] = await context.cookies();
    expect(session).toMatchObject({
      name: 'ipm_queue_dashboard',
      path: '/admin/queues',
      httpOnly: true,
      sameSite: 'Strict',
      secure: false,
    });
    expect(session.expires).toBeGreaterThan(Date.now() / 1000);
    expect(session.expires).toBeLessThanOrEqual(Date.now() / 1000 + 3600 + 5);
    // The page's script reads no token (HttpOnly), and nothing failed to run under the dashboard's CSP.
    expect(await page.evaluate('document.cookie')).toBe('');
    expect(pageErrors).toEqual([]);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT, 'queue-dashboard.png') });
    // Only the third-party font the board's page links to is blocked by the policy; nothing of its own.
    expect(consoleErrors.filter((e) => /Content Security Policy/.test(e) && !/fonts\.googleapis\.com/.test(e))).toEqual(
      [],
    );
    // The board's own calls carry the session: a write (pause, then resume) from the page succeeds.
    const statuses = await page.evaluate(async () => {
      const put = async (url: string): Promise<number> => (await fetch(url, { method: 'PUT' })).status;
      return [await put('api/queues/replay/pause'), await put('api/queues/replay/resume')];
    });
    expect(statuses).toEqual([200, 200]);

    // Logging out ends the session: the login form again.
    const out = await page.goto(`${base}/admin/queues/logout`);
    expect(out?.status()).toBe(401);
    expect(await context.cookies()).toEqual([]);
    await expect(page.locator('#login').isVisible()).resolves.toBe(true);
  });

  it('/docs shows Swagger UI; screenshot', async () => {
    const res = await page.goto(`${base}/docs`);
    expect(res?.status()).toBe(200);
    await page.locator('.swagger-ui .info .title').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('.swagger-ui .info .title').first().textContent()).toContain('IPM API');
    await page.locator('.opblock').first().waitFor();
    mkdirSync(OUTPUT, { recursive: true });
    const file = path.join(OUTPUT, 'docs.png');
    await page.screenshot({ path: file, fullPage: false });
    const png = readFileSync(file);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(statSync(file).size).toBeGreaterThan(10_000);
    expect(statSync(file).size).toBeLessThan(20_000_000);
  });
});
