/**
 * A private Mosquitto broker for integration tests (Debian's mosquitto
 * binary), on a free loopback port with its own configuration, so a test may
 * stop, kill or reconfigure it without touching the machine's broker on 1883.
 *
 * The configuration lifts Mosquitto's per-client queue limit
 * (max_queued_messages, 1000 by default): with the default a QoS 1
 * subscriber that falls behind, or is away, loses messages beyond 1000 at
 * the broker, which would make a no-loss test meaningless. The in-flight
 * window stays the broker's default (20) for MQTT 3.1.1 clients and the
 * client's Receive Maximum for MQTT 5 clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './endpoints';
import { waitFor } from './wait';

export const MOSQUITTO_BIN = process.env['MOSQUITTO_BIN'] ?? '/usr/sbin/mosquitto';

export interface PrivateMosquitto {
  url: string;
  port: number;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
const jestAfterAll = (globalThis as { afterAll?: (fn: () => void) => void }).afterAll;
jestAfterAll?.(() => {
  for (const child of running) child.kill('SIGKILL');
});

export function mosquittoAvailable(): boolean {
  return fs.existsSync(MOSQUITTO_BIN);
}

/** Whether something accepts TCP connections on host:port. */
export function portAnswers(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function startMosquitto(opts: { extraConfig?: string[] } = {}): Promise<PrivateMosquitto> {
  if (!mosquittoAvailable()) throw new Error(`${MOSQUITTO_BIN} is missing; install Debian's mosquitto package (apt-get install mosquitto)`);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  const child = spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => (running.delete(child), resolve())));
  try {
    await waitFor(`mosquitto on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${stderr}`);
      return portAnswers(port);
    }, 10000, 50);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
