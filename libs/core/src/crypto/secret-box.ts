import { Inject, Injectable } from '@nestjs/common';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppConfig } from '../config/config.schema';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 'v1';

/**
 * AES-256-GCM encryption of secrets at rest under the SECRETS_KEY keys. A sealed value is
 * `v1.<key_id>.<iv>.<ciphertext>.<tag>` (base64url parts): it names its key, so keys can be
 * rotated (new key first in SECRETS_KEY, old ones kept to open what they sealed). `context`
 * is authenticated but not stored (e.g. the row's id), so a sealed value cannot be moved to
 * another row.
 */
@Injectable()
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly currentKeyId: string;

  constructor(@Inject(AppConfig) config: Pick<AppConfig, 'SECRETS_KEY'>) {
    const entries = config.SECRETS_KEY.split(',').map((part) => {
      const [id, b64] = part.split(':');
      return [id, Buffer.from(b64, 'base64')] as const;
    });
    this.keys = new Map(entries);
    this.currentKeyId = entries[0][0];
  }

  /** The id of the key that seals new values. */
  get keyId(): string {
    return this.currentKeyId;
  }

  seal(plaintext: string | Buffer, context = ''): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.keys.get(this.currentKeyId) as Buffer, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      FORMAT,
      this.currentKeyId,
      iv.toString('base64url'),
      ciphertext.toString('base64url'),
      tag.toString('base64url'),
    ].join('.');
  }

  /** Throws if the value was altered, sealed for another context, or under a key no longer configured. */
  open(sealed: string, context = ''): Buffer {
    const [format, keyId, iv, ciphertext, tag, ...rest] = sealed.split('.');
    if (format !== FORMAT || rest.length || !iv || !ciphertext || !tag) throw new Error('sealed value is malformed');
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`sealed value uses key "${keyId}", which SECRETS_KEY does not hold`);
    const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    const tagBytes = Buffer.from(tag, 'base64url');
    if (tagBytes.length !== TAG_BYTES) throw new Error('sealed value is malformed');
    decipher.setAuthTag(tagBytes);
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
  }

  openText(sealed: string, context = ''): string {
    return this.open(sealed, context).toString('utf8');
  }
}
