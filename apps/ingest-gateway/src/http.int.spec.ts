/**
 * HTTP ingress (POST /v1/events) against the real Kafka broker: batches,
 * NDJSON, gzip, bearer tokens bound to device prefixes, limits, per-event
 * rejection reasons, and what lands in the raw topic and the DLQ.
 */
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { DLQ_HEADERS, generateEvents, type GeneratedRecord } from '@stream-analytics/event-schema';
import { createTestTopic, deleteTopic, getTestEndpoints, readTopic, type ConsumedMessage } from '@stream-analytics/testing';
import { header, startGateway, writeTokensFile, type GatewayRun } from './testing/harness';

jest.setTimeout(120000);

const FLEET_TOKEN = 'tok-fleet-0123456789abcdef';
const ADMIN_TOKEN = 'tok-admin-0123456789abcdef';
const ONE_TOKEN = 'tok-one-0123456789abcdef00';
let brokers: string;
let gw: GatewayRun;
let raw: string;
let dlq: string;
const sent: GeneratedRecord[] = [];

const events = (count: number, seed: number, devices = 20) =>
  [...generateEvents({ seed, count, devices, users: 10, startTimeMs: Date.parse('2026-11-24T09:00:00Z'), ratePerSec: 1000 })].filter((r) => r.reason === undefined);

beforeAll(async () => {
  brokers = (await getTestEndpoints()).kafkaBrokers;
  raw = await createTestTopic(brokers, { prefix: 'gw.http.raw', partitions: 6 });
  dlq = await createTestTopic(brokers, { prefix: 'gw.http.dlq', partitions: 2 });
  const tokensFile = writeTokensFile([`${FLEET_TOKEN} fleet-a dev-00000`, `${ADMIN_TOKEN} admin`, `${ONE_TOKEN} device-7 dev-000007`]);
  gw = await startGateway({ brokers, rawTopic: raw, dlqTopic: dlq, tokensFile, args: ['--max-body-bytes', '262144', '--max-batch-events', '1000'] });
});
afterAll(async () => {
  gw?.app.child.kill('SIGTERM');
  await gw?.app.exited;
  for (const t of [raw, dlq]) if (t) await deleteTopic(brokers, t).catch(() => undefined);
});

async function post(body: Buffer | string, opts: { token?: string | null; headers?: Record<string, string> } = {}) {
  const token = opts.token === undefined ? ADMIN_TOKEN : opts.token;
  const res = await fetch(gw.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { accepted?: number; rejected?: Array<{ index: number; reason: string }>; error?: string } };
}
const arrayOf = (rs: GeneratedRecord[]) => `[${rs.map((r) => r.value.toString()).join(',')}]`;

describe('HTTP ingress', () => {
  it('accepts one event, an array and NDJSON, answering 200 only after Kafka acknowledged them', async () => {
    const rs = events(301, 1);
    expect(await post(rs[0].value)).toMatchObject({ status: 200, body: { accepted: 1, rejected: [] } });
    expect(await post(arrayOf(rs.slice(1, 201)))).toMatchObject({ status: 200, body: { accepted: 200, rejected: [] } });
    const ndjson = rs.slice(201).map((r) => r.value.toString()).join('\n') + '\n';
    expect(await post(ndjson, { headers: { 'content-type': 'application/x-ndjson' } })).toMatchObject({ status: 200, body: { accepted: 100 } });
    sent.push(...rs);
  });

  it('accepts a gzip body', async () => {
    const rs = events(500, 2);
    const res = await post(gzipSync(Buffer.from(arrayOf(rs))), { headers: { 'content-encoding': 'gzip' } });
    expect(res).toMatchObject({ status: 200, body: { accepted: 500 } });
    sent.push(...rs);
    expect(await post(Buffer.from('not gzip'), { headers: { 'content-encoding': 'gzip' } })).toMatchObject({ status: 400 });
    expect(await post(arrayOf(rs.slice(0, 1)), { headers: { 'content-encoding': 'br' } })).toMatchObject({ status: 415 });
  });

  it('lists each rejected event with its index and reason (207), dead-letters it with the HTTP origin, and answers 400 when none is valid', async () => {
    const rs = events(3, 3);
    const body = `[${rs[0].value},{"event_id":"x"},${rs[1].value},"text",${rs[2].value}]`;
    const res = await post(body);
    expect(res.status).toBe(207);
    expect(res.body.accepted).toBe(3);
    expect(res.body.rejected).toEqual([
      expect.objectContaining({ index: 1, reason: 'missing_field' }),
      expect.objectContaining({ index: 3, reason: 'wrong_type' }),
    ]);
    sent.push(...rs);
    const none = await post('{"device_id":"dev-000001"}\n{broken\n');
    expect(none.status).toBe(400);
    expect(none.body.rejected?.map((r) => r.reason)).toEqual(['missing_field', 'invalid_json']);
    expect(await post('[]')).toMatchObject({ status: 400, body: { error: 'the batch holds no event' } });
  });

  it('authenticates: no token and a wrong token get 401; a token bound to a device prefix cannot write another device (403, nothing written)', async () => {
    const rs = events(400, 4, 40);
    expect(await post(arrayOf(rs), { token: null })).toMatchObject({ status: 401 });
    const wrong = await post(arrayOf(rs), { token: 'tok-nobody-0123456789abcdef' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const mine = rs.filter((r) => r.key === 'dev-000007');
    const others = rs.filter((r) => r.key !== 'dev-000007');
    expect(mine.length).toBeGreaterThan(0);
    const forbidden = await post(arrayOf([...mine, others[0]]), { token: ONE_TOKEN });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.rejected).toEqual([expect.objectContaining({ index: mine.length, reason: 'device_not_allowed' })]);
    expect(await post(arrayOf(mine), { token: ONE_TOKEN })).toMatchObject({ status: 200, body: { accepted: mine.length } });
    sent.push(...mine);
    const fleet = rs.filter((r) => r.key.startsWith('dev-00000'));
    expect(await post(arrayOf(fleet), { token: FLEET_TOKEN })).toMatchObject({ status: 200, body: { accepted: fleet.length } });
    sent.push(...fleet);
  });

  it('refuses bodies and batches over the limits with 413 (declared body size, batch size, decompressed size)', async () => {
    const rs = events(1001, 5);
    expect(await post(arrayOf(rs))).toMatchObject({ status: 413 }); // > 262144 bytes declared
    const small = rs.slice(0, 1001).map(() => '1').join(',');
    expect(await post(`[${small}]`)).toMatchObject({ status: 413, body: { error: expect.stringMatching(/batch of 1001 events/) } });
    const bomb = gzipSync(Buffer.alloc(300000, 0x20));
    expect(bomb.length).toBeLessThan(262144);
    expect(await post(bomb, { headers: { 'content-encoding': 'gzip' } })).toMatchObject({ status: 413, body: { error: expect.stringMatching(/decompressed/) } });
  });

  it('refuses a chunked body (no Content-Length) once it grows past the limit', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(gw.url, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      // The server answers and closes before the upload ends: a reset after the answer is expected.
      req.on('error', (err) => setTimeout(() => reject(err), 1000));
      for (let i = 0; i < 40; i++) req.write(Buffer.alloc(16384, 0x20));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('answers 404 and 405 elsewhere', async () => {
    expect((await fetch(gw.url.replace('/v1/events', '/v2'), { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(gw.url)).status).toBe(405);
  });

  it('has put every accepted event on the raw topic once, bytes intact, and every rejected one in the DLQ with its origin', async () => {
    const messages = await readTopic(brokers, raw, { partitions: 6 });
    expect(messages.length).toBe(sent.length);
    const values = (ms: ConsumedMessage[]) => ms.map((m) => String(m.key) + '|' + m.value?.toString('base64')).sort();
    expect(values(messages)).toEqual(sent.map((r) => r.key + '|' + r.value.toString('base64')).sort());
    const letters = await readTopic(brokers, dlq, { partitions: 2 });
    expect(letters.map((m) => header(m, DLQ_HEADERS.reason)).sort()).toEqual(['invalid_json', 'missing_field', 'missing_field', 'wrong_type']);
    for (const m of letters) {
      expect(header(m, 'ingest.transport')).toBe('http');
      expect(header(m, 'ingest.http.client')).toBe('admin');
      expect(header(m, DLQ_HEADERS.sourceTopic)).toBe('http:admin');
      expect(header(m, 'ingest.http.remote')).toMatch(/^127\.0\.0\.1:\d+$/);
    }
  });
});
