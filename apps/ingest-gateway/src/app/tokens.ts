/**
 * HTTP bearer tokens. The tokens file has one token per line:
 *
 *   <token> <client-name> [<device-id-prefix>]
 *
 * `#` starts a comment. A token with a prefix may only write events whose
 * device_id starts with it (a device, or a fleet under one prefix, cannot
 * write as another); without a prefix it may write any device. The client
 * name travels with dead letters as their origin.
 */
import { createHash } from 'node:crypto';

export interface TokenGrant {
  client: string;
  /** Allowed device_id prefix; undefined = any device. */
  devicePrefix?: string;
}

export class TokenFileError extends Error {}

const digest = (token: string) => createHash('sha256').update(token).digest();

export class TokenStore {
  private readonly byDigest = new Map<string, TokenGrant>();

  constructor(entries: Array<{ token: string } & TokenGrant>) {
    for (const e of entries) this.byDigest.set(digest(e.token).toString('hex'), { client: e.client, ...(e.devicePrefix !== undefined ? { devicePrefix: e.devicePrefix } : {}) });
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** The grant of an Authorization header value, or undefined (missing, malformed or unknown token). */
  authenticate(authorization: string | undefined): TokenGrant | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    // Looked up by a SHA-256 of the token: the lookup's timing says nothing about the secret.
    return this.byDigest.get(digest(m[1]).toString('hex'));
  }
}

export function parseTokensFile(text: string, file = 'tokens file'): TokenStore {
  const entries: Array<{ token: string } & TokenGrant> = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    if (parts.length < 2 || parts.length > 3) throw new TokenFileError(`${file}:${i + 1}: expected "<token> <client-name> [<device-id-prefix>]"`);
    const [token, client, devicePrefix] = parts;
    if (token.length < 16) throw new TokenFileError(`${file}:${i + 1}: token of ${client} is shorter than 16 characters`);
    if (seen.has(token)) throw new TokenFileError(`${file}:${i + 1}: duplicate token (client ${client})`);
    seen.add(token);
    entries.push({ token, client, ...(devicePrefix !== undefined ? { devicePrefix } : {}) });
  });
  if (entries.length === 0) throw new TokenFileError(`${file} holds no token`);
  return new TokenStore(entries);
}

/** Whether a grant may write an event of this device. */
export function mayWrite(grant: TokenGrant, deviceId: string): boolean {
  return grant.devicePrefix === undefined || deviceId.startsWith(grant.devicePrefix);
}
