import { BulkUrlTokenCodec, newUploadTokenId } from './bulk-url-tokens';

describe('BulkUrlTokenCodec', () => {
  const codec = new BulkUrlTokenCodec('test-secret');
  const now = Date.UTC(2026, 0, 1);
  const jobId = 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E';
  const upload = {
    kind: 'upload' as const,
    job_id: jobId,
    orgcode: 'acme',
    token_id: newUploadTokenId(),
    expires_at: now + 60_000,
  };

  it('round-trips its claims, in a token that fits a path segment', () => {
    const token = codec.encode(upload);
    expect(token).toMatch(/^[A-Za-z0-9_-]{1,100}$/);
    expect(codec.jobIdOf(token)).toBe(jobId);
    expect(codec.decode(token, 'upload', 'acme', now)).toEqual(upload);
    const report = { kind: 'report' as const, job_id: jobId, orgcode: 'x'.repeat(64), expires_at: now + 1000 };
    expect(codec.decode(codec.encode(report), 'report', report.orgcode, now)).toEqual(report);
  });

  it('refuses an expired token', () => {
    const token = codec.encode(upload);
    expect(codec.decode(token, 'upload', 'acme', now + 59_000)).not.toBeNull();
    expect(codec.decode(token, 'upload', 'acme', now + 60_000)).toBeNull();
  });

  it('is bound to its tenant: the same token checked against another org is refused', () => {
    expect(codec.decode(codec.encode(upload), 'upload', 'acme2', now)).toBeNull();
  });

  it('refuses a token of another kind, and an upload token without a one-time id', () => {
    expect(codec.decode(codec.encode(upload), 'report', 'acme', now)).toBeNull();
    expect(
      codec.decode(codec.encode({ ...upload, kind: 'export', token_id: undefined }), 'report', 'acme', now),
    ).toBeNull();
    expect(codec.decode(codec.encode({ ...upload, token_id: undefined }), 'upload', 'acme', now)).toBeNull();
  });

  it('check says why a token is refused', () => {
    const token = codec.encode(upload);
    expect(codec.check(token, 'upload', 'acme', now)).toEqual({ ok: true, claims: upload });
    expect(codec.check(token, 'upload', 'acme', upload.expires_at)).toEqual({ ok: false, reason: 'expired' });
    expect(codec.check(token, 'upload', 'acme2', now)).toEqual({ ok: false, reason: 'forged' });
    expect(codec.check(token, 'report', 'acme', now)).toEqual({ ok: false, reason: 'wrong_kind' });
    expect(codec.check('nothing', 'upload', 'acme', now)).toEqual({ ok: false, reason: 'malformed' });
    const bytes = Buffer.from(token, 'base64url');
    bytes[3] ^= 0xff; // a later expiry, claimed without the key: forged, not expired or valid
    expect(codec.check(bytes.toString('base64url'), 'upload', 'acme', now)).toEqual({ ok: false, reason: 'forged' });
    expect(new BulkUrlTokenCodec('other').check(token, 'upload', 'acme', now)).toEqual({ ok: false, reason: 'forged' });
  });

  it('refuses tampering, other keys and garbage', () => {
    const token = codec.encode(upload);
    const bytes = Buffer.from(token, 'base64url');
    for (const i of [0, 1, 3, 10, bytes.length - 1]) {
      const forged = Buffer.from(bytes);
      forged[i] ^= 1;
      expect(codec.decode(forged.toString('base64url'), 'upload', 'acme', now)).toBeNull();
    }
    expect(new BulkUrlTokenCodec('other').decode(token, 'upload', 'acme', now)).toBeNull();
    for (const junk of ['', '.', 'abc', 'a.b', 'x'.repeat(2000), `${token}A`, token.slice(1)]) {
      expect(codec.decode(junk, 'upload', 'acme', now)).toBeNull();
      expect(codec.jobIdOf(junk)).toBeNull();
    }
  });
});
