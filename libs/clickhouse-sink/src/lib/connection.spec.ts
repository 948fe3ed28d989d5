import { parseConfig, UsageError, type CommandSpec } from '@stream-analytics/runtime';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClickHouseSinkClient } from './client';
import { CLICKHOUSE_CONNECTION_OPTIONS, clickHouseConnection, describeClickHouseSecurityError } from './connection';

const spec = { name: 'demo', summary: 'Demo.', options: { ...CLICKHOUSE_CONNECTION_OPTIONS } } satisfies CommandSpec<typeof CLICKHOUSE_CONNECTION_OPTIONS>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clickhouse-connection-'));
const ca = path.join(dir, 'ca.pem');
const passwordFile = path.join(dir, 'password');
fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
fs.writeFileSync(passwordFile, 'writer-secret\n');
const fromEnv = (env: Record<string, string>) => clickHouseConnection(parseConfig(spec, [], env).config, spec);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ClickHouse connection options', () => {
  it('default to the local plaintext server', () => {
    expect(fromEnv({})).toEqual({ url: 'http://127.0.0.1:8123', username: 'default', password: '', database: 'stream_analytics' });
  });

  it('read the password file and the CA once, for an https URL', () => {
    const cfg = fromEnv({ CLICKHOUSE_URL: 'https://ch:8443', CLICKHOUSE_USER: 'stream_writer', CLICKHOUSE_PASSWORD_FILE: passwordFile, CLICKHOUSE_CA_CERT: ca });
    expect(cfg).toMatchObject({ url: 'https://ch:8443', username: 'stream_writer', password: 'writer-secret' });
    expect(cfg.caCert?.toString()).toBe('-----BEGIN CERTIFICATE-----\n');
    const client = new ClickHouseSinkClient(cfg);
    expect(client.config.caCert).toBe(cfg.caCert);
    void client.close();
  });

  it.each([
    [{ CLICKHOUSE_PASSWORD: 'a', CLICKHOUSE_PASSWORD_FILE: passwordFile }, /not both/],
    [{ CLICKHOUSE_CA_CERT: ca }, /--clickhouse-ca-cert needs an https:\/\/ --clickhouse-url/],
    [{ CLICKHOUSE_URL: 'https://ch:8443', CLICKHOUSE_CA_CERT: path.join(dir, 'none.pem') }, /Cannot read --clickhouse-ca-cert .*none.pem: ENOENT/],
    [{ CLICKHOUSE_PASSWORD_FILE: path.join(dir, 'none') }, /Cannot read --clickhouse-password-file/],
    [{ CLICKHOUSE_URL: 'ftp://x' }, /must be an http\(s\) URL/],
    [{ CLICKHOUSE_URL: 'https://writer:s3cret@ch:8443' }, /^Invalid --clickhouse-url: must not contain credentials; use --clickhouse-user and --clickhouse-password-file$/],
  ])('reject %j as a usage error', (env, message) => {
    expect(() => fromEnv(env)).toThrow(UsageError);
    expect(() => fromEnv(env)).toThrow(message);
  });
});

describe('describeClickHouseSecurityError', () => {
  const url = 'https://127.0.0.1:8443';
  it.each([
    [Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), /not signed by a trusted CA: set CLICKHOUSE_CA_CERT/],
    [Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), /not issued for that host name/],
    [new Error('Code: 193, e.displayText() = DB::Exception: Wrong password for user stream_writer, e.what() = DB::Exception'), /rejected the credentials of user stream_writer/],
    [new Error('Code: 516. DB::Exception: stream_writer: Authentication failed: password is incorrect'), /rejected the credentials/],
    [new Error('request failed', { cause: Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }) }), /trusted CA/],
  ])('explains case %#', (err, sentence) => {
    expect(describeClickHouseSecurityError(err, url)).toMatch(sentence);
  });

  it('leaves outages alone (they are retried)', () => {
    expect(describeClickHouseSecurityError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), url)).toBeUndefined();
  });
});
