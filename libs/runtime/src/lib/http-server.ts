/**
 * The operational HTTP endpoint every app exposes (node:http, no framework):
 *   GET /metrics  Prometheus text format from the given registry, plus `app_ready`
 *                 (1 while /readyz answers 200), so alerts can tell "running but not
 *                 ready" from "down" without probing each app
 *   GET /healthz  liveness: 200 while the process's main loop is alive
 *   GET /readyz   readiness: 200 only when the app says it is ready (e.g. the
 *                 broker and ClickHouse answered); 503 with the reason otherwise
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A prom-client Registry, or anything that renders the exposition format the same way. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface HealthState {
  /** Liveness: false makes /healthz fail so Kubernetes restarts the pod. */
  live(): boolean;
  /** Readiness and a short reason shown in the body (why not ready, or a note while ready, e.g. a degraded dependency). */
  ready(): { ready: boolean; reason?: string };
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/** The readiness gauge in the exposition format, after the registry's own metrics. */
function readinessMetric(ready: boolean, before: string): string {
  const separator = before === '' || before.endsWith('\n') ? '' : '\n';
  return `${separator}# HELP app_ready 1 while the app answers /readyz with 200, else 0.\n# TYPE app_ready gauge\napp_ready ${ready ? 1 : 0}\n`;
}

export async function startOpsServer(opts: { port: number; host?: string; registry: MetricsSource; health: HealthState }): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/metrics') {
      opts.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(body + readinessMetric(opts.health.ready().ready, body)),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (url === '/healthz') {
      const live = opts.health.live();
      res.writeHead(live ? 200 : 503, { 'content-type': 'text/plain' }).end(live ? 'ok\n' : 'not live\n');
    } else if (url === '/readyz') {
      const { ready, reason } = opts.health.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? `ready${reason ? `: ${reason}` : ''}\n` : `not ready: ${reason ?? 'starting'}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`Metrics port ${opts.port} is already in use; set METRICS_PORT to a free port (0 picks one).`) : err),
    );
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
