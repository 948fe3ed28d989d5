/**
 * A private Alertmanager for tests, with the repo's routing
 * (infra/prometheus/alertmanager.yml) and a webhook receiver in the test
 * process that records every notification Alertmanager sends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort, waitFor } from '@stream-analytics/testing';
import { PROMETHEUS_DIR } from '../lib/rules';

export interface Notification {
  receivedAtMs: number;
  status: 'firing' | 'resolved';
  alertname: string;
  labels: Record<string, string>;
}

export interface TestAlertmanager {
  /** host:port, for Prometheus's alerting config. */
  address: string;
  /** The routing it runs with: the repo's, with the test's group_interval when it set one. */
  route: Route;
  notifications: Notification[];
  /** Resolves with the first notification for the alert in that state at or after `sinceMs`. */
  waitFor(alertname: string, status: Notification['status'], sinceMs: number, timeoutMs: number): Promise<Notification>;
  stop(): Promise<void>;
}

interface Route {
  receiver: string;
  group_wait: string;
  group_interval: string;
}
interface AlertmanagerConfig {
  route: Route;
  receivers: Array<{ name: string; webhook_configs?: unknown[] }>;
}

/**
 * groupInterval: instead of the routing's group_interval, which is how long a group that already
 * notified waits before its next notification, a resolution included. An end-to-end test that
 * waits for several resolutions would otherwise spend up to a group_interval on each.
 */
export async function startAlertmanager(opts: { groupInterval?: string } = {}): Promise<TestAlertmanager> {
  const notifications: Notification[] = [];
  const webhook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const message = JSON.parse(body) as { alerts: Array<{ status: Notification['status']; labels: Record<string, string> }> };
      for (const a of message.alerts) notifications.push({ receivedAtMs: Date.now(), status: a.status, alertname: a.labels['alertname'] ?? '', labels: a.labels });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/`;

  const dir = mkdtempSync(path.join(tmpdir(), 'test-alertmanager-'));
  const config = parse(readFileSync(path.join(PROMETHEUS_DIR, 'alertmanager.yml'), 'utf8')) as AlertmanagerConfig;
  const receiver = config.receivers.find((r) => r.name === config.route.receiver);
  if (!receiver) throw new Error(`alertmanager.yml routes to '${config.route.receiver}', which it does not define.`);
  receiver.webhook_configs = [{ url: webhookUrl, send_resolved: true }];
  if (opts.groupInterval) config.route.group_interval = opts.groupInterval;
  writeFileSync(path.join(dir, 'alertmanager.yml'), stringify(config));

  const port = await freePort();
  let log = '';
  const child: ChildProcess = spawn(
    process.env['ALERTMANAGER_BIN'] ?? 'prometheus-alertmanager',
    [`--config.file=${path.join(dir, 'alertmanager.yml')}`, `--storage.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  try {
    await waitFor('Alertmanager ready', async () => (await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => null))?.status === 200, 30_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${log.slice(-2000)}`);
  }

  const find = (alertname: string, status: Notification['status'], sinceMs: number) =>
    notifications.find((n) => n.alertname === alertname && n.status === status && n.receivedAtMs >= sinceMs);
  return {
    address: `127.0.0.1:${port}`,
    route: config.route,
    notifications,
    async waitFor(alertname, status, sinceMs, timeoutMs) {
      await waitFor(`Alertmanager to send ${alertname} ${status}`, () => find(alertname, status, sinceMs) !== undefined, timeoutMs, 1000);
      return find(alertname, status, sinceMs) as Notification;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await new Promise<void>((resolve) => webhook.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
