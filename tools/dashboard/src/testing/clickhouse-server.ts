/**
 * A private ClickHouse server for one test file: the machine's
 * clickhouse-server binary (Debian's 18.16 here; CLICKHOUSE_SERVER_BIN to
 * choose another) started as a user process on free loopback ports, with its
 * data in a temporary folder, the given users.d files next to its users.xml,
 * and extra environment (e.g. passwords for from_env).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clickhouseServerBinary, CLICKHOUSE_TEST_USERS_XML, freePort } from '@stream-analytics/testing';

export interface PrivateClickHouse {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startPrivateClickHouse(opts: { usersD: string[]; env?: Record<string, string> }): Promise<PrivateClickHouse> {
  const bin = clickhouseServerBinary();
  if (!bin) throw new Error('no clickhouse-server binary (install Debian clickhouse-server or set CLICKHOUSE_SERVER_BIN)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clickhouse-private-'));
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas', 'log', 'users.d']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  for (const f of opts.usersD) fs.copyFileSync(f, path.join(dir, 'users.d', path.basename(f)));
  fs.writeFileSync(path.join(dir, 'users.xml'), CLICKHOUSE_TEST_USERS_XML);
  fs.writeFileSync(
    path.join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>${dir}/log/server.log</log>
        <errorlog>${dir}/log/server.err.log</errorlog>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>${httpPort}</http_port>
    <tcp_port>${tcpPort}</tcp_port>
    <path>${dir}/data/</path>
    <tmp_path>${dir}/tmp/</tmp_path>
    <user_files_path>${dir}/user_files/</user_files_path>
    <format_schema_path>${dir}/format_schemas/</format_schema_path>
    <users_config>${dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
`,
  );
  const out = fs.openSync(path.join(dir, 'log', 'stdout.log'), 'w');
  const child: ChildProcess = spawn(bin, [`--config-file=${dir}/config.xml`], { cwd: dir, stdio: ['ignore', out, out], env: { ...process.env, ...opts.env } });
  fs.closeSync(out);
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const url = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`clickhouse-server exited with ${child.exitCode}: ${tail(path.join(dir, 'log', 'server.err.log'))}`);
    try {
      if ((await (await fetch(`${url}/ping`)).text()).trim() === 'Ok.') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      kill();
      throw new Error(`clickhouse-server did not answer on ${url} within 60 s: ${tail(path.join(dir, 'log', 'server.err.log'))}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    dir,
    stop: async () => {
      process.removeListener('exit', kill);
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(kill, 15000);
          child.once('exit', () => (clearTimeout(timer), resolve()));
          child.kill('SIGTERM');
        });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '(no log)';
  }
}
