import { Counter, Registry } from 'prom-client';
import { startOpsServer } from './http-server';

describe('ops HTTP server', () => {
  it('serves metrics, liveness and readiness with reasons', async () => {
    const registry = new Registry();
    new Counter({ name: 'demo_events_total', help: 'demo', registers: [registry] }).inc(3);
    let ready = false;
    const server = await startOpsServer({ port: 0, host: '127.0.0.1', registry, health: { live: () => true, ready: () => ({ ready, reason: 'broker not reachable' }) } });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('demo_events_total 3');
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^# TYPE app_ready gauge\napp_ready 0$/m);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toContain('broker not reachable');
      ready = true;
      const readyWithNote = await fetch(`${base}/readyz`);
      expect([readyWithNote.status, await readyWithNote.text()]).toEqual([200, 'ready: broker not reachable\n']);
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^app_ready 1$/m);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('explains a taken port in one sentence', async () => {
    const registry = new Registry();
    const health = { live: () => true, ready: () => ({ ready: true }) };
    const first = await startOpsServer({ port: 0, host: '127.0.0.1', registry, health });
    try {
      await expect(startOpsServer({ port: first.port, host: '127.0.0.1', registry, health })).rejects.toThrow(/already in use; set METRICS_PORT/);
    } finally {
      await first.close();
    }
  });
});
