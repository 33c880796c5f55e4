import { Logger } from '@nestjs/common';
import { createAppLogger, REDACTED, redactStrings, redactText } from './logger';

const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const API_KEY = 'ipm_abcdefghijABCDEFGHIJ0123456789_-abcdefgh';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJvcmdzIjpbImFjbWUiXX0.Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eA';
const UPLOAD = '/ipm/bulk/upload/AQAAAABnM1MzMDFKRDNWNVQwSzZaOFE5VzJYNFk3QjFDM0WqqqqqqqqqqqqqqqqqqqqqqqqqA';
const SIGNATURE = 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=';
const ALL = [WHSEC, WHSEC.slice(6), API_KEY, JWT, JWT.split('.')[2], UPLOAD.slice(18), SIGNATURE.slice(3)];

function capture(run: () => void): string {
  let out = '';
  const write = (chunk: string | Uint8Array): boolean => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  };
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(write);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(write);
  try {
    run();
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

function expectClean(out: string): void {
  expect(out.length).toBeGreaterThan(0);
  for (const secret of ALL) expect(out).not.toContain(secret);
  expect(out).toContain(REDACTED);
}

describe('redactText', () => {
  it.each([
    ['a webhook secret', `secret is ${WHSEC}.`, `secret is whsec_${REDACTED}.`],
    ['an API key', `key=${API_KEY} used`, `key=ipm_${REDACTED} used`],
    ['a JWT', `token ${JWT} refused`, `token ${REDACTED} refused`],
    ['a Bearer header', 'Authorization: Bearer abc.def-123', `Authorization: Bearer ${REDACTED}`],
    ['a Basic header', 'authorization: basic dXNlcjpwYXNz', `authorization: basic ${REDACTED}`],
    ['a signed bulk URL', `PUT ${UPLOAD} failed`, `PUT /ipm/bulk/upload/${REDACTED} failed`],
    ['a webhook signature', `webhook-signature: ${SIGNATURE}`, `webhook-signature: v1,${REDACTED}`],
  ])('masks %s', (_label, text, expected) => {
    expect(redactText(text)).toBe(expected);
  });

  it('leaves ids, prefixes and ordinary text alone', () => {
    const text =
      'webhook whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E key key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E prefix ipm_abcdefgh job job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E';
    expect(redactText(text)).toBe(text);
  });
});

describe('redactStrings', () => {
  it('scrubs nested strings and errors without mutating them', () => {
    const err = new Error(`bad ${API_KEY}`);
    const value = { nested: [{ text: `x ${WHSEC}` }], err, n: 1, ok: true, none: null };
    const out = redactStrings(value) as typeof value;
    expect(out.nested[0].text).toBe(`x whsec_${REDACTED}`);
    expect(out.err).toBeInstanceOf(Error);
    expect(out.err.message).toBe(`bad ipm_${REDACTED}`);
    expect(out.err.stack).not.toContain(API_KEY);
    expect(out).toMatchObject({ n: 1, ok: true, none: null });
    expect(value.nested[0].text).toContain(WHSEC);
    expect(err.message).toContain(API_KEY);
  });
});

describe.each(['json', 'text'] as const)('createAppLogger (LOG_FORMAT=%s)', (format) => {
  const logger = createAppLogger({ LOG_LEVEL: 'verbose', LOG_FORMAT: format }, 'spec');

  it('masks credentials in string messages at every level', () => {
    expectClean(
      capture(() => {
        logger.log(`created with ${WHSEC} and ${API_KEY}`);
        logger.warn(`rejected Bearer ${JWT}`);
        logger.debug(`PUT ${UPLOAD}`);
        logger.verbose(`signed ${SIGNATURE}`);
        logger.fatal(`fatal whsec_${WHSEC.slice(6)}`);
      }),
    );
  });

  it('masks credential properties of logged objects by name, at any depth', () => {
    const out = capture(() =>
      logger.log({
        headers: { Authorization: `Bearer ${JWT}`, 'X-Api-Key': API_KEY, 'content-type': 'application/json' },
        webhook: { secret: WHSEC.slice(6), webhook_id: 'whk_1' },
        next_token: 'opaque',
        upload_url: UPLOAD,
      }),
    );
    expectClean(out);
    expect(out).toContain('application/json');
    expect(out).toContain('whk_1');
    expect(out).not.toContain('opaque');
  });

  it('masks errors: message and stack', () => {
    const out = capture(() => {
      const err = new Error(`failed with ${API_KEY}`);
      logger.error(err);
      logger.error(`request failed: ${WHSEC}`, err.stack?.replace('failed with', `failed for ${JWT}`));
    });
    expectClean(out);
  });

  it('is what static Logger calls go through once it is the app logger', () => {
    Logger.overrideLogger(logger);
    try {
      expectClean(capture(() => new Logger('Ctx').log(`via the static logger ${JWT}`)));
    } finally {
      Logger.overrideLogger(false);
    }
  });
});
