/**
 * Client behaviour against the real server at CLICKHOUSE_URL: readiness ping,
 * 18.16 compatibility, error classification with real server errors, and
 * retries through real network failures (a TCP proxy in front of the server).
 */
import { randomInt } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { createClickHouseClient, type ClickHouseSinkClient } from './client';
import { NonRetryableClickHouseError, RetriesExhaustedError, WriteAbortedError, clickHouseErrorCode, isRetryableError } from './errors';
import { stateRow } from '../testing/history';
import { applyMigrations, findMigrationsDir } from './migrations';
import { readMinuteAgg } from './readers';
import type { RetryInfo } from './retry';
import type { WindowPartitionRow, WindowUsersRow } from './rows';
import { TABLES } from './schema';
import { WindowRowWriter } from './writer';

const CLICKHOUSE_URL = process.env['CLICKHOUSE_URL'];
if (!CLICKHOUSE_URL) {
  throw new Error(
    'CLICKHOUSE_URL is not set: the ClickHouse integration tests (*.int.spec.ts) need a real server, ' +
      'e.g. CLICKHOUSE_URL=http://127.0.0.1:8123 npx nx integration clickhouse-sink',
  );
}

jest.setTimeout(60_000);

const MINUTE = 60_000;
const target = new URL(CLICKHOUSE_URL);
const auth = { username: process.env['CLICKHOUSE_USER'], password: process.env['CLICKHOUSE_PASSWORD'] };
const closers: (() => Promise<void>)[] = [];

let client: ClickHouseSinkClient;

beforeAll(async () => {
  client = createClickHouseClient({ url: CLICKHOUSE_URL, ...auth });
  await applyMigrations(client, findMigrationsDir(__dirname));
});
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  await client?.close();
});

function sinkClient(url: string, extra: { requestTimeoutMs?: number } = {}): ClickHouseSinkClient {
  const c = createClickHouseClient({ url, ...auth, ...extra });
  closers.push(() => c.close());
  return c;
}

async function listen(server: net.Server | http.Server): Promise<string> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        sockets.forEach((s) => s.destroy());
      }),
  );
  const { port } = server.address() as net.AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/** TCP proxy to the real server that kills the first `failures` connections at once. */
async function flakyProxy(failures: number): Promise<{ url: string; connections: () => number }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (n++ < failures) {
      socket.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 80), target.hostname);
    sockets.add(upstream);
    socket.pipe(upstream).pipe(socket);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  closers.push(async () => sockets.forEach((s) => s.destroy()));
  return { url: await listen(server), connections: () => n };
}

async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function windowRow(windowStartMs: number, p: Partial<WindowPartitionRow> = {}): WindowPartitionRow {
  return stateRow({ windowStartMs, sourceTopic: 'test.client', totalEvents: 2, metricSum: 3, anomalyEvents: 1, lastOffset: 5, ...p });
}
const windowUsers = (windowStartMs: number): WindowUsersRow => ({ windowStartMs, userIds: ['u1', 'u2'] });
const randomWindow = (): number => Date.UTC(1980, 0, 1) + randomInt(0, 20 * 365 * 1440) * MINUTE;

describe('ping', () => {
  it('answers ok from the real server', async () => {
    const r = await client.ping();
    expect(r).toMatchObject({ ok: true });
  });

  it('reports a silent server within the short timeout, and a closed port, without throwing', async () => {
    const silent = net.createServer(() => undefined); // accepts, never answers
    const url = await listen(silent);
    const started = Date.now();
    const r = await sinkClient(url).ping({ timeoutMs: 300 });
    expect(r.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(r.ok === false && r.error.message).toMatch(/did not answer within 300 ms/);

    const closed = await sinkClient(await closedPortUrl()).ping({ timeoutMs: 1_000 });
    expect(closed.ok).toBe(false);
  });
});

describe('compatibility with the server version', () => {
  it('reports the server version and reads 64-bit integers as strings or numbers', async () => {
    const v = await client.serverVersion();
    expect(v.major).toBeGreaterThanOrEqual(18);
    const [row] = await client.queryRows<{ big: string | number; dt: string }>(
      `SELECT toUInt64(9007199254740991) AS big, toDateTime(1700000000, 'UTC') AS dt`,
    );
    expect(Number(row.big)).toBe(Number.MAX_SAFE_INTEGER);
    expect(row.dt).toBe('2023-11-14 22:13:20');
  });

  it('documents why the library inlines numbers: query parameters need ClickHouse 19+', async () => {
    const v = await client.serverVersion();
    const attempt = client.internal.query({ query: 'SELECT {x:UInt32} AS x', query_params: { x: 1 }, format: 'JSONEachRow' }).then((r) => r.json());
    if (v.major < 19) await expect(attempt).rejects.toThrow(/param_x|Unknown setting/);
    else await expect(attempt).resolves.toEqual([{ x: 1 }]);
  });

  it('classifies real server errors by code, in the 18.16 message format too', async () => {
    const err = await client.queryRows('SELECT * FROM stream_analytics.no_such_table').catch((e: unknown) => e);
    expect(clickHouseErrorCode(err)).toBe(60);
    expect(isRetryableError(err)).toBe(false);
  });

  it('raw client uses the configured database for unqualified names', async () => {
    const rs = await client.raw.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ db: 'stream_analytics' }]);
  });
});

describe('WindowRowWriter failure handling', () => {
  it('fails at once with a typed error on a schema mismatch (unknown table, unknown columns)', async () => {
    const missing = new WindowRowWriter(client, { windowTable: 'stream_analytics.no_such_table', initialDelayMs: 10 });
    const err = await missing.writeWindowRows([windowRow(randomWindow())]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableClickHouseError);
    expect((err as NonRetryableClickHouseError).clickhouseCode).toBe(60);

    // window rows into a table without their columns: refused at once, not retried
    const noColumns: RetryInfo[] = [];
    const wrongWindowTable = new WindowRowWriter(client, { windowTable: TABLES.deadLetters, usersTable: TABLES.windowState, initialDelayMs: 10, onRetry: (i) => noColumns.push(i) });
    const err1 = await wrongWindowTable.writeWindowRows([windowRow(randomWindow())]).catch((e: unknown) => e);
    expect(err1).toBeInstanceOf(NonRetryableClickHouseError);
    // users rows into a table without a user_id column: the same
    const err3 = await wrongWindowTable.writeWindowUsers([windowUsers(randomWindow())]).catch((e: unknown) => e);
    expect(err3).toBeInstanceOf(NonRetryableClickHouseError);
    expect(noColumns).toEqual([]);

    const retries: RetryInfo[] = [];
    const wrongTable = new WindowRowWriter(client, { deadLetterTable: TABLES.windowState, initialDelayMs: 10, onRetry: (i) => retries.push(i) });
    const err2 = await wrongTable
      .writeDeadLetters([{ sourceTopic: 't', sourcePartition: 0, sourceOffset: 1, windowStartMs: randomWindow(), reason: 'x', recordedAtMs: 0 }])
      .catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(NonRetryableClickHouseError);
    expect(retries).toEqual([]);
  });

  it('retries through dropped connections and resolves only once the rows are stored', async () => {
    const w = randomWindow();
    // each write through a proxy of its own that drops its first two connections
    const flakyWriter = async (): Promise<{ writer: WindowRowWriter; retries: RetryInfo[] }> => {
      const retries: RetryInfo[] = [];
      const writer = new WindowRowWriter(sinkClient((await flakyProxy(2)).url), { initialDelayMs: 20, maxDelayMs: 100, onRetry: (i) => retries.push(i) });
      return { writer, retries };
    };
    const users = await flakyWriter();
    expect(await users.writer.writeWindowUsers([windowUsers(w)])).toMatchObject({ rows: 2, attempts: 3 });
    const rows = await flakyWriter();
    const result = await rows.writer.writeWindowRows([windowRow(w)]);
    expect(result.attempts).toBe(3);
    expect(rows.retries.map((r) => r.attempt)).toEqual([1, 2]);
    expect(await readMinuteAgg(client, w, w + MINUTE)).toEqual([]); // no result before the refresh
    const refresh = await flakyWriter();
    expect(await refresh.writer.refreshMinuteRollup([w])).toMatchObject({ rows: 1, attempts: 3 });
    expect(refresh.retries.map((r) => r.attempt)).toEqual([1, 2]);
    expect(await readMinuteAgg(client, w, w + MINUTE)).toMatchObject([{ windowStartMs: w, totalEvents: 2, uniqueUsers: 2 }]);
  });

  it('retries HTTP 5xx answers (e.g. a proxy in front of ClickHouse)', async () => {
    let calls = 0;
    const server = http.createServer((req, res) => {
      calls++;
      if (calls <= 2) {
        req.resume();
        res.writeHead(503, { 'content-type': 'text/html' }).end('<html>503 Service Unavailable</html>');
        return;
      }
      const upstream = http.request(
        { host: target.hostname, port: Number(target.port || 80), path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    const writer = new WindowRowWriter(sinkClient(await listen(server)), { initialDelayMs: 20 });
    const w = randomWindow();
    // (a fresh client first asks for the server version; that request is inside the retried attempt too)
    await expect(writer.writeWindowRows([windowRow(w, { totalEvents: 9 })])).resolves.toMatchObject({ rows: 1, attempts: 3 });
    expect(calls).toBeGreaterThanOrEqual(3);
    await new WindowRowWriter(client).refreshMinuteRollup([w]);
    expect(await readMinuteAgg(client, w, w + MINUTE)).toMatchObject([{ totalEvents: 9, uniqueUsers: 0 }]);
  });

  it('gives up after maxAttempts or the deadline, and stops on abort', async () => {
    const down = sinkClient(await closedPortUrl());
    const limited = new WindowRowWriter(down, { initialDelayMs: 10, maxAttempts: 3 });
    const e1 = await limited.writeWindowRows([windowRow(randomWindow())]).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(RetriesExhaustedError);
    expect((e1 as RetriesExhaustedError).attempts).toBe(3);

    const deadline = new WindowRowWriter(down, { initialDelayMs: 50, deadlineMs: 400 });
    const started = Date.now();
    const e2 = await deadline.writeWindowRows([windowRow(randomWindow())]).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(RetriesExhaustedError);
    expect(Date.now() - started).toBeLessThan(2_000);

    const controller = new AbortController();
    const unlimited = new WindowRowWriter(down, { initialDelayMs: 50, signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const e3 = await unlimited.writeWindowRows([windowRow(randomWindow())]).catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(WriteAbortedError);
    expect((e3 as WriteAbortedError).attempts).toBeGreaterThanOrEqual(1);
  });
});
