/**
 * HTTP ingress: POST /v1/events (node:http). The body is one event, a JSON
 * array of events or NDJSON, optionally gzip-compressed
 * (Content-Encoding: gzip). Answers:
 *   200  every event accepted (valid ones on the raw topic, acknowledged by Kafka)
 *   207  some events rejected: `rejected` lists each one's index, reason and message
 *        (they are in the DLQ); the others are accepted
 *   400  every event rejected (same body), or an empty batch
 *   401  no or unknown bearer token; 403 an event of a device the token may not write
 *        (nothing of that request is written)
 *   413  body (compressed or decompressed) or batch larger than the limits
 *   415  an unsupported Content-Encoding
 *   503  Kafka unavailable, the in-flight bound reached, Kafka not acknowledging in
 *        time, or the gateway shutting down; with Retry-After. The client retries the
 *        whole request; events of a request answered 503 after they were handed to
 *        Kafka may arrive twice.
 * The response is written only after Kafka acknowledged every record of the request.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import type { Logger } from '@stream-analytics/runtime';
import { Ingest, type IngestOutcome } from './acks';
import type { GatewayConfig } from './config';
import type { EventSink } from './kafka';
import type { GatewayMetrics } from './metrics';
import { splitPayload } from './payload';
import { routeItems, validateItems, type Router } from './route';
import { mayWrite, type TokenGrant, type TokenStore } from './tokens';

export const EVENTS_PATH = '/v1/events';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const ANONYMOUS: TokenGrant = { client: 'anonymous' };

export class HttpIngress {
  private server: http.Server | undefined;
  private draining = false;

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly router: Router,
    private readonly sink: EventSink,
    private readonly tokens: TokenStore | undefined,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<number> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.logger.error({ error: err.message }, 'HTTP handler failed');
        if (!res.headersSent) this.reply(res, 500, { error: 'internal error' }, Date.now());
      });
    });
    server.keepAliveTimeout = 65_000;
    server.requestTimeout = Math.round((this.cfg.httpAckTimeout + 30) * 1000);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? new Error(`HTTP ingress port ${this.cfg.httpPort} is already in use; set INGEST_HTTP_PORT to a free port (0 picks one).`) : err),
      );
      server.listen(this.cfg.httpPort, this.cfg.httpHost, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  private reply(res: http.ServerResponse, status: number, body: Record<string, unknown>, receivedAtMs: number, headers: Record<string, string> = {}): void {
    this.metrics.counters.respond(status);
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers, ...(this.draining ? { connection: 'close' } : {}) });
    res.end(text);
    if (status < 300) this.metrics.observeAck('http', (Date.now() - receivedAtMs) / 1000);
  }

  private unavailable(res: http.ServerResponse, reason: string, receivedAtMs: number): void {
    this.reply(res, 503, { error: reason }, receivedAtMs, { 'retry-after': String(this.cfg.retryAfter) });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const receivedAtMs = Date.now();
    const path = (req.url ?? '/').split('?')[0];
    if (path !== EVENTS_PATH) return this.reply(res, 404, { error: `not found; POST events to ${EVENTS_PATH}` }, receivedAtMs);
    if (req.method !== 'POST') return this.reply(res, 405, { error: 'only POST' }, receivedAtMs, { allow: 'POST' });
    try {
      const grant = this.authenticate(req);
      if (this.draining) throw new HttpError(503, 'shutting down');
      if (!this.sink.available) throw new HttpError(503, `Kafka unavailable: ${this.sink.unavailableReason ?? 'unknown'}`);
      const body = await this.readBody(req);
      await this.ingest(body, grant, req, res, receivedAtMs);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      // The body may be unread: do not reuse the connection.
      res.shouldKeepAlive = false;
      if (err.status === 503) return this.unavailable(res, err.message, receivedAtMs);
      const headers: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Bearer realm="ingest"' } : {};
      this.reply(res, err.status, { error: err.message, ...err.extra }, receivedAtMs, headers);
    }
  }

  private authenticate(req: http.IncomingMessage): TokenGrant {
    if (!this.tokens) return ANONYMOUS;
    if (!req.headers.authorization) throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
    const grant = this.tokens.authenticate(req.headers.authorization);
    if (!grant) throw new HttpError(401, 'unknown bearer token');
    return grant;
  }

  private async readBody(req: http.IncomingMessage): Promise<Buffer> {
    const limit = this.cfg.maxBodyBytes;
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
    if (encoding !== 'identity' && encoding !== 'gzip') throw new HttpError(415, `unsupported Content-Encoding "${encoding}" (gzip or none)`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limit}`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new HttpError(413, `body exceeds the limit of ${limit} bytes`);
      chunks.push(chunk);
    }
    const raw = Buffer.concat(chunks, size);
    if (encoding === 'identity') return raw;
    try {
      return zlib.gunzipSync(raw, { maxOutputLength: limit });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new HttpError(413, `decompressed body exceeds the limit of ${limit} bytes`);
      throw new HttpError(400, `body is not valid gzip: ${(err as Error).message}`);
    }
  }

  private async ingest(body: Buffer, grant: TokenGrant, req: http.IncomingMessage, res: http.ServerResponse, receivedAtMs: number): Promise<void> {
    const { items } = splitPayload(body);
    if (items.length > this.cfg.maxBatchEvents) throw new HttpError(413, `batch of ${items.length} events exceeds the limit of ${this.cfg.maxBatchEvents}`);
    if (items.length === 0) throw new HttpError(400, 'the batch holds no event');
    if (!this.sink.inFlight.admits(items.length, body.length)) throw new HttpError(503, 'too many events waiting for Kafka');
    const results = validateItems(items);
    if (grant.devicePrefix !== undefined) {
      const forbidden = results.flatMap((r, index) =>
        r.ok && !mayWrite(grant, r.event.device_id) ? [{ index, reason: 'device_not_allowed', message: `device_id "${r.event.device_id}" is outside this token's devices (${grant.devicePrefix}*)` }] : [],
      );
      if (forbidden.length > 0) {
        for (let i = 0; i < forbidden.length; i++) this.metrics.counters.reject('http', 'device_not_allowed');
        throw new HttpError(403, 'the token may not write events of these devices; nothing was written', { rejected: forbidden });
      }
    }
    const counters = this.metrics.counters;
    counters.received.http += items.length;
    let resolveOutcome!: (o: IngestOutcome) => void;
    const outcome = new Promise<IngestOutcome>((resolve) => (resolveOutcome = resolve));
    const ingest = new Ingest(receivedAtMs, resolveOutcome);
    const origin = { transport: 'http' as const, client: grant.client, remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}` };
    const rejected = routeItems(this.router, items, results, origin, receivedAtMs, ingest);
    ingest.seal();
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([outcome, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.cfg.httpAckTimeout * 1000)))]);
    clearTimeout(timer);
    if (result === undefined || result.failed > 0) {
      counters.unacknowledged.http++;
      throw new HttpError(503, result === undefined ? `Kafka did not acknowledge within ${this.cfg.httpAckTimeout} s` : `Kafka failed ${result.failed} records: ${result.error}`);
    }
    const accepted = items.length - rejected.length;
    counters.accepted.http += accepted;
    for (const r of rejected) counters.reject('http', r.reason);
    counters.acknowledged.http++;
    const status = rejected.length === 0 ? 200 : accepted === 0 ? 400 : 207;
    this.reply(res, status, { accepted, rejected }, receivedAtMs);
  }

  /** Stops accepting connections; requests in progress finish (keep-alive connections close after their response). */
  beginDrain(): void {
    this.draining = true;
    this.server?.close();
    this.server?.closeIdleConnections();
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
  }
}
