import { Injectable } from '@nestjs/common';
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppConfig } from '@ipm/core';

/** What a signed bulk URL opens: the upload of an import, its line report, or an export file. */
export type BulkUrlKind = 'upload' | 'report' | 'export';
const KINDS: readonly BulkUrlKind[] = ['upload', 'report', 'export'];

export interface BulkUrlClaims {
  kind: BulkUrlKind;
  job_id: string;
  orgcode: string;
  /** Expiry, in milliseconds since the epoch (carried in whole seconds, rounded down). */
  expires_at: number;
  /** Upload URLs: the one-time id stored in `bulk_jobs.upload_token_id` (single use). */
  token_id?: string;
}

/** Why a token was refused: unreadable, not signed by us for that job's tenant, of another kind, or too old. */
export type BulkUrlRefusal = 'malformed' | 'forged' | 'wrong_kind' | 'expired';
export type BulkUrlCheck = { ok: true; claims: BulkUrlClaims } | { ok: false; reason: BulkUrlRefusal };

/** What a refusal tells the client (a 401's message). */
export const BULK_URL_REFUSALS: Readonly<Record<BulkUrlRefusal, string>> = {
  malformed: 'the URL token is malformed',
  forged: 'the URL token is not genuine',
  wrong_kind: 'the URL token does not open this kind of file',
  expired: 'the URL has expired; get a fresh one from /bulk/job/get',
};

const VERSION = 1;
const JOB_PREFIX = 'job_';
const ULID_CHARS = 26;
const NONCE_BYTES = 10;
const MAC_BYTES = 16;
const HEAD = 1 + 1 + 4; // version, kind, expiry (uint32 seconds)
/** Fastify refuses path parameters over 100 characters (414): a token is 64 (upload) or 51 characters. */
const MAX_TOKEN_CHARS = 100;

/** A fresh one-time id for `bulk_jobs.upload_token_id`. */
export function newUploadTokenId(): string {
  return randomBytes(NONCE_BYTES).toString('base64url');
}

/**
 * Signed, expiring URL tokens for bulk files, compact enough for a path segment:
 * base64url(version, kind, expiry, job ulid, [one-time id], HMAC-SHA256/128). The MAC also covers
 * the job's tenant, which the token does not carry (an org code may be 64 characters): it is
 * checked against the job row, so a token only ever opens a job of the tenant it was signed for.
 */
export class BulkUrlTokenCodec {
  private readonly key: Buffer;

  constructor(secret: string | Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'ipm', 'ipm-bulk-url-v1', 32));
  }

  encode(claims: BulkUrlClaims): string {
    const ulid = claims.job_id.startsWith(JOB_PREFIX) ? claims.job_id.slice(JOB_PREFIX.length) : '';
    if (ulid.length !== ULID_CHARS) throw new RangeError('job_id must be a job_ id');
    const nonce = claims.token_id === undefined ? Buffer.alloc(0) : Buffer.from(claims.token_id, 'base64url');
    if (claims.token_id !== undefined && nonce.length !== NONCE_BYTES) throw new RangeError('token_id is malformed');
    const head = Buffer.alloc(HEAD);
    head.writeUInt8(VERSION, 0);
    head.writeUInt8(KINDS.indexOf(claims.kind), 1);
    head.writeUInt32BE(Math.floor(claims.expires_at / 1000), 2); // never later than asked
    const body = Buffer.concat([head, Buffer.from(ulid, 'latin1'), nonce]);
    return Buffer.concat([body, this.mac(body, claims.orgcode)]).toString('base64url');
  }

  /**
   * The job a well-formed token names, before its signature is checked (that needs the job's
   * tenant: {@link decode}); null for a malformed token.
   */
  jobIdOf(token: string): string | null {
    const raw = this.split(token);
    return raw ? JOB_PREFIX + raw.body.subarray(HEAD, HEAD + ULID_CHARS).toString('latin1') : null;
  }

  /** The claims of a genuine, unexpired token of `kind` for `orgcode`'s job; null for anything else. */
  decode(token: string, kind: BulkUrlKind, orgcode: string, now: number = Date.now()): BulkUrlClaims | null {
    const checked = this.check(token, kind, orgcode, now);
    return checked.ok ? checked.claims : null;
  }

  /**
   * {@link decode} with the reason of a refusal, for a message that says why (a client can tell
   * an expired URL, which a fresh one fixes, from a broken one). The signature is checked before
   * anything the token claims is believed: a forged token is `forged` whatever it says.
   */
  check(token: string, kind: BulkUrlKind, orgcode: string, now: number = Date.now()): BulkUrlCheck {
    const raw = this.split(token);
    if (!raw) return { ok: false, reason: 'malformed' };
    const expected = this.mac(raw.body, orgcode);
    if (!timingSafeEqual(raw.mac, expected)) return { ok: false, reason: 'forged' };
    const { body } = raw;
    if (body.readUInt8(0) !== VERSION) return { ok: false, reason: 'malformed' };
    const nonce = body.subarray(HEAD + ULID_CHARS);
    if (KINDS[body.readUInt8(1)] !== kind || (kind === 'upload') !== (nonce.length === NONCE_BYTES)) {
      return { ok: false, reason: 'wrong_kind' };
    }
    const expiresAt = body.readUInt32BE(2) * 1000;
    if (expiresAt <= now) return { ok: false, reason: 'expired' };
    return {
      ok: true,
      claims: {
        kind,
        job_id: JOB_PREFIX + body.subarray(HEAD, HEAD + ULID_CHARS).toString('latin1'),
        orgcode,
        expires_at: expiresAt,
        ...(nonce.length ? { token_id: nonce.toString('base64url') } : {}),
      },
    };
  }

  private split(token: string): { body: Buffer; mac: Buffer } | null {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
    const bytes = Buffer.from(token, 'base64url');
    // Re-encoding must give the token back: base64url decoding is lenient about spare bits.
    if (bytes.toString('base64url') !== token) return null;
    const bodyLength = bytes.length - MAC_BYTES;
    if (bodyLength !== HEAD + ULID_CHARS && bodyLength !== HEAD + ULID_CHARS + NONCE_BYTES) return null;
    if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(bytes.subarray(HEAD, HEAD + ULID_CHARS).toString('latin1'))) return null;
    return { body: bytes.subarray(0, bodyLength), mac: bytes.subarray(bodyLength) };
  }

  private mac(body: Buffer, orgcode: string): Buffer {
    const org = Buffer.from(orgcode, 'utf8');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(org.length, 0);
    return createHmac('sha256', this.key).update(length).update(org).update(body).digest().subarray(0, MAC_BYTES);
  }
}

export const UPLOAD_PATH = '/ipm/bulk/upload/';
export const FILE_PATH = '/ipm/bulk/file/';

/** The app's bulk URL tokens, keyed from SECRETS_KEY; they live BULK_URL_TTL_MINUTES. */
@Injectable()
export class BulkUrlTokens {
  private readonly codec: BulkUrlTokenCodec;
  private readonly ttlMs: number;

  constructor(config: AppConfig) {
    this.codec = new BulkUrlTokenCodec(`bulk-url:${config.SECRETS_KEY.split(',')[0]}`);
    this.ttlMs = config.BULK_URL_TTL_MINUTES * 60_000;
  }

  /** `/ipm/bulk/upload/<token>` for the job's current one-time token id. */
  uploadUrl(orgcode: string, jobId: string, tokenId: string, now = Date.now()): string {
    return UPLOAD_PATH + this.sign({ kind: 'upload', orgcode, job_id: jobId, token_id: tokenId }, now);
  }

  /** `/ipm/bulk/file/<token>` for the job's report or export file. */
  fileUrl(kind: 'report' | 'export', orgcode: string, jobId: string, now = Date.now()): string {
    return FILE_PATH + this.sign({ kind, orgcode, job_id: jobId }, now);
  }

  sign(claims: Omit<BulkUrlClaims, 'expires_at'> & { expires_at?: number }, now = Date.now()): string {
    return this.codec.encode({ ...claims, expires_at: claims.expires_at ?? now + this.ttlMs });
  }

  jobIdOf(token: string): string | null {
    return this.codec.jobIdOf(token);
  }

  decode(token: string, kind: BulkUrlKind, orgcode: string, now?: number): BulkUrlClaims | null {
    return this.codec.decode(token, kind, orgcode, now);
  }

  check(token: string, kind: BulkUrlKind, orgcode: string, now?: number): BulkUrlCheck {
    return this.codec.check(token, kind, orgcode, now);
  }
}
