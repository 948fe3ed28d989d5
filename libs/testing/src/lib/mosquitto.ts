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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
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
  /** With `secure`: the CA that signed the broker's certificate, and the one user allowed in. */
  tls?: { caFile: string; username: string; password: string; passwordFile: string };
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

/**
 * A test CA, a broker certificate for 127.0.0.1 signed by it (openssl) and a
 * password file with one user (mosquitto_passwd), in `dir`. Readable by all:
 * Mosquitto started as root reads them after dropping to its own user.
 */
function secureFiles(dir: string): { config: string[]; tls: NonNullable<PrivateMosquitto['tls']> } {
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=test-ca');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext'));
  const username = 'gateway';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  execFileSync('mosquitto_passwd', ['-c', '-b', f('passwd'), username, password], { stdio: 'ignore' });
  fs.writeFileSync(f('password'), `${password}\n`);
  fs.chmodSync(dir, 0o755);
  for (const name of fs.readdirSync(dir)) fs.chmodSync(f(name), 0o644);
  return {
    config: [`cafile ${f('ca.crt')}`, `certfile ${f('server.crt')}`, `keyfile ${f('server.key')}`, 'allow_anonymous false', `password_file ${f('passwd')}`],
    tls: { caFile: f('ca.crt'), username, password, passwordFile: f('password') },
  };
}

export async function startMosquitto(opts: { extraConfig?: string[]; secure?: boolean } = {}): Promise<PrivateMosquitto> {
  if (!mosquittoAvailable()) throw new Error(`${MOSQUITTO_BIN} is missing; install Debian's mosquitto package (apt-get install mosquitto)`);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  const secure = opts.secure ? secureFiles(dir) : undefined;
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      ...(secure ? secure.config : ['allow_anonymous true']),
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
    url: `${secure ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    ...(secure ? { tls: secure.tls } : {}),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
