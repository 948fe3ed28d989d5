/**
 * ClickHouse connection options shared by every app and tool that talks to
 * ClickHouse, declared once: URL (http or https), user, password directly or
 * from a file, CA certificate for https, database. {@link clickHouseConnection}
 * validates them as a whole and reads the files once, at start.
 */
import { DEFAULT_CLICKHOUSE_URL, formatUsage, readSecretFile, UsageError, type CommandSpec, type OptionSpecs } from '@stream-analytics/runtime';
import fs from 'node:fs';
import { splitUrls, type ClickHouseConfig } from './client';

function validateUrl(v: string): string | undefined {
  try {
    const u = new URL(v);
    // A password in the URL would end up wherever the URL is shown (logs, errors).
    if (u.username || u.password) return 'must not contain credentials; use --clickhouse-user and --clickhouse-password-file';
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : `"${v}" must be an http(s) URL`;
  } catch {
    return `"${v}" is not a URL (expected e.g. http://127.0.0.1:8123)`;
  }
}

/** One URL, or several comma-separated (the replicas of a shard). */
function validateUrls(v: string): string | undefined {
  const urls = splitUrls(v);
  if (urls.length === 0) return 'needs at least one URL (expected e.g. http://127.0.0.1:8123 or http://a:8123,http://b:8123)';
  for (const u of urls) {
    const problem = validateUrl(u);
    if (problem) return problem;
  }
  return undefined;
}

export const CLICKHOUSE_CONNECTION_OPTIONS = {
  clickhouseUrl: {
    type: 'string',
    env: 'CLICKHOUSE_URL',
    default: DEFAULT_CLICKHOUSE_URL,
    validate: validateUrls,
    description: 'ClickHouse HTTP(S) endpoint, or several comma-separated (replicas of one shard): requests move to the next when one stops answering.',
  },
  clickhouseUser: { type: 'string', env: 'CLICKHOUSE_USER', default: 'default', description: 'ClickHouse user.' },
  clickhousePassword: { type: 'string', env: 'CLICKHOUSE_PASSWORD', description: 'ClickHouse password; prefer --clickhouse-password-file. Never logged.' },
  clickhousePasswordFile: { type: 'string', env: 'CLICKHOUSE_PASSWORD_FILE', description: 'File holding the ClickHouse password (read once at start; e.g. a mounted Kubernetes Secret).' },
  clickhouseCaCert: { type: 'string', env: 'CLICKHOUSE_CA_CERT', description: 'PEM file of the CA that signed the server certificate, for an https:// URL (default: the system trust store).' },
  clickhouseDatabase: { type: 'string', env: 'CLICKHOUSE_DATABASE', default: 'stream_analytics', description: 'ClickHouse database.' },
} as const satisfies OptionSpecs;

export interface ClickHouseConnectionOptions {
  clickhouseUrl: string;
  clickhouseUser: string;
  clickhousePassword?: string;
  clickhousePasswordFile?: string;
  clickhouseCaCert?: string;
  clickhouseDatabase: string;
}

/** Validates the options and reads the password and CA files; throws an Error naming the flag at fault. */
export function resolveClickHouseConnection(o: ClickHouseConnectionOptions): ClickHouseConfig {
  if (o.clickhousePassword !== undefined && o.clickhousePasswordFile !== undefined) {
    throw new Error('Give the ClickHouse password either directly (CLICKHOUSE_PASSWORD) or as a file (CLICKHOUSE_PASSWORD_FILE), not both.');
  }
  let caCert: Buffer | undefined;
  if (o.clickhouseCaCert !== undefined) {
    if (!splitUrls(o.clickhouseUrl).every((u) => u.startsWith('https:'))) throw new Error(`--clickhouse-ca-cert needs an https:// --clickhouse-url (CLICKHOUSE_URL is ${o.clickhouseUrl}).`);
    try {
      caCert = fs.readFileSync(o.clickhouseCaCert);
    } catch (err) {
      throw new Error(`Cannot read --clickhouse-ca-cert ${o.clickhouseCaCert}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
    }
  }
  const password = o.clickhousePasswordFile !== undefined ? readSecretFile(o.clickhousePasswordFile, '--clickhouse-password-file') : (o.clickhousePassword ?? '');
  return { url: o.clickhouseUrl, username: o.clickhouseUser, password, database: o.clickhouseDatabase, ...(caCert ? { caCert } : {}) };
}

/** {@link resolveClickHouseConnection} for a parsed command config: failures are usage errors (exit 2). */
export function clickHouseConnection(o: ClickHouseConnectionOptions, spec: CommandSpec<OptionSpecs>): ClickHouseConfig {
  try {
    return resolveClickHouseConnection(o);
  } catch (err) {
    throw new UsageError((err as Error).message, formatUsage(spec));
  }
}

/**
 * One sentence for a failure that retrying cannot fix (rejected credentials,
 * an untrusted or mismatched certificate), or undefined. ClickHouse's own
 * messages name the user, never the password.
 */
export function describeClickHouseSecurityError(err: unknown, url: string): string | undefined {
  const e = err as { code?: string | number; message?: string; cause?: unknown };
  const code = String(e?.code ?? '');
  const msg = String(e?.message ?? '');
  if (/^(ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)$/.test(code) || /Hostname\/IP does not match/i.test(msg)) {
    return `The TLS certificate of ClickHouse at ${url} is not issued for that host name: use a name the certificate lists in CLICKHOUSE_URL.`;
  }
  if (/^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|CERT_UNTRUSTED)$/.test(code) || /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer/i.test(msg)) {
    return `The TLS certificate of ClickHouse at ${url} is not signed by a trusted CA: set CLICKHOUSE_CA_CERT to the CA that signed it.`;
  }
  if (/^(ERR_SSL_WRONG_VERSION_NUMBER|EPROTO)$/.test(code) || /wrong version number/i.test(msg)) {
    return `ClickHouse at ${url} does not speak TLS on that port: use its https port, or http:// for a plain one.`;
  }
  // 516 AUTHENTICATION_FAILED (current servers), 192/193 unknown user / wrong password (18.x).
  if (/^(516|192|193)$/.test(code) || /Code: (516|192|193)\b|Authentication failed|Wrong password|Unknown user/i.test(msg)) {
    return `ClickHouse at ${url} rejected the credentials of user ${/user (\S+)/.exec(msg)?.[1]?.replace(/[.:]$/, '') ?? 'given'}: check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD(_FILE).`;
  }
  return e?.cause && e.cause !== err ? describeClickHouseSecurityError(e.cause, url) : undefined;
}
