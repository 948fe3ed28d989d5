/**
 * A private replicated ClickHouse for one test file: ZooKeeper (standalone,
 * from the Maven jars of infra/zookeeper/pom.xml) and N Debian ClickHouse
 * 18.16 servers (one shard, N replicas), each a user process on free loopback
 * ports with its own data folder, macros ({shard}, {replica}), the
 * remote_servers entry of the cluster and the ZooKeeper address. Replicas can
 * be killed with SIGKILL and restarted on the same ports and data, which is
 * what the failover tests need. Nothing is shared with the local stack.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, workspaceRoot } from './endpoints';

export const TEST_CLUSTER_NAME = 'stream_analytics_cluster';

export interface ClusterReplica {
  /** Macro {replica}, e.g. `replica1`. */
  name: string;
  url: string;
  httpPort: number;
  tcpPort: number;
  interserverPort: number;
  dir: string;
  running(): boolean;
  /** SIGKILL, no shutdown of any kind. Resolves when the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and data; resolves when it answers /ping. */
  start(): Promise<void>;
}

export interface ReplicatedClickHouse {
  clusterName: string;
  shard: string;
  zookeeper: { host: string; port: number };
  replicas: ClusterReplica[];
  /** The replicas' URLs, comma-separated (the CLICKHOUSE_URL form). */
  urls: string;
  stop(): Promise<void>;
}

export function clickhouseServerBinary(): string | undefined {
  const candidates = [process.env['CLICKHOUSE_SERVER_BIN'], '/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server'].filter((c): c is string => !!c);
  return candidates.find((c) => fs.existsSync(c));
}

/**
 * The ZooKeeper jars in `.local/zookeeper/libs` (shared by every worktree's
 * tests of this checkout), resolved by Maven when missing or when the pom
 * changed. Maven writes into a temporary folder renamed only on success.
 */
export function ensureZooKeeperJars(): string {
  const root = workspaceRoot();
  const pom = path.join(root, 'infra', 'zookeeper', 'pom.xml');
  const libs = path.join(root, '.local', 'zookeeper', 'libs');
  const stamp = path.join(libs, '.pom.sha256');
  const hash = createHash('sha256').update(fs.readFileSync(pom)).digest('hex');
  const hasJar = (dir: string) => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => /^zookeeper-\d.*\.jar$/.test(f));
  if (hasJar(libs) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === hash) return libs;
  const tmp = `${libs}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const mvn = spawnSync('mvn', ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime'], { encoding: 'utf8' });
  if (mvn.error) throw new Error(`Maven (mvn) is needed to resolve ZooKeeper from ${pom}: ${mvn.error.message} (Debian: apt-get install -y maven)`);
  if (mvn.status !== 0 || !hasJar(tmp)) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`Maven could not resolve the ZooKeeper jars from ${pom} (exit ${mvn.status}):\n${(mvn.stdout + mvn.stderr).slice(-2000)}`);
  }
  fs.writeFileSync(path.join(tmp, '.pom.sha256'), `${hash}\n`);
  fs.rmSync(libs, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(libs), { recursive: true });
  fs.renameSync(tmp, libs);
  return libs;
}

/** Starts the cluster; every process is SIGKILLed when the test process exits, whatever happens. */
export async function startReplicatedClickHouse(opts: { replicas?: number; shard?: string } = {}): Promise<ReplicatedClickHouse> {
  const bin = clickhouseServerBinary();
  if (!bin) throw new Error('no clickhouse-server binary (install Debian clickhouse-server or set CLICKHOUSE_SERVER_BIN)');
  const count = opts.replicas ?? 2;
  const shard = opts.shard ?? '01';
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'clickhouse-cluster-'));
  const children = new Set<ChildProcess>();
  const killAll = () => children.forEach((c) => c.kill('SIGKILL'));
  process.once('exit', killAll);

  try {
    const zookeeper = await startZooKeeper(path.join(base, 'zookeeper'), children);
    const ports: { http: number; tcp: number; interserver: number }[] = [];
    for (let i = 0; i < count; i++) ports.push({ http: await freePort(), tcp: await freePort(), interserver: await freePort() });
    const remoteReplicas = ports.map((p) => `<replica><host>127.0.0.1</host><port>${p.tcp}</port></replica>`).join('\n                ');

    const replicas: ClusterReplica[] = ports.map((p, i) => {
      const name = `replica${i + 1}`;
      const dir = path.join(base, name);
      for (const sub of ['data', 'tmp', 'user_files', 'format_schemas', 'log']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
      fs.writeFileSync(path.join(dir, 'users.xml'), CLICKHOUSE_TEST_USERS_XML);
      fs.writeFileSync(
        path.join(dir, 'config.xml'),
        replicaConfig({ dir, ports: p, zookeeperPort: zookeeper.port, shard, replica: name, remoteReplicas }),
      );
      let child: ChildProcess | undefined;
      const replica: ClusterReplica = {
        name,
        url: `http://127.0.0.1:${p.http}`,
        httpPort: p.http,
        tcpPort: p.tcp,
        interserverPort: p.interserver,
        dir,
        running: () => !!child && child.exitCode === null && child.signalCode === null,
        kill: async () => {
          const c = child;
          if (!c || c.exitCode !== null || c.signalCode !== null) return;
          await new Promise<void>((resolve) => {
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          });
        },
        start: async () => {
          const out = fs.openSync(path.join(dir, 'log', 'stdout.log'), 'a');
          const c = spawn(bin, [`--config-file=${dir}/config.xml`], { cwd: dir, stdio: ['ignore', out, out] });
          fs.closeSync(out);
          child = c;
          children.add(c);
          c.once('exit', () => children.delete(c));
          await waitUntil(`${name} answering on ${replica.url}`, 60_000, async () => {
            if (c.exitCode !== null) throw new Error(`clickhouse-server ${name} exited with ${c.exitCode}: ${tail(path.join(dir, 'log', 'server.err.log'))}`);
            try {
              return (await (await fetch(`${replica.url}/ping`)).text()).trim() === 'Ok.';
            } catch {
              return false;
            }
          });
          // A server answers before its ZooKeeper session is up (slowly on a loaded machine);
          // replicated DDL and inserts fail until it is.
          await waitUntil(`${name} connected to ZooKeeper`, 60_000, async () => {
            try {
              const res = await fetch(`${replica.url}/?query=${encodeURIComponent("SELECT count() FROM system.zookeeper WHERE path = '/'")}`);
              return res.ok;
            } catch {
              return false;
            }
          });
        },
      };
      return replica;
    });
    await Promise.all(replicas.map((r) => r.start()));
    return {
      clusterName: TEST_CLUSTER_NAME,
      shard,
      zookeeper: { host: '127.0.0.1', port: zookeeper.port },
      replicas,
      urls: replicas.map((r) => r.url).join(','),
      stop: async () => {
        process.removeListener('exit', killAll);
        await Promise.all(
          [...children].map(
            (c) =>
              new Promise<void>((resolve) => {
                if (c.exitCode !== null || c.signalCode !== null) return resolve();
                const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
                c.once('exit', () => (clearTimeout(timer), resolve()));
                c.kill('SIGTERM');
              }),
          ),
        );
        fs.rmSync(base, { recursive: true, force: true });
      },
    };
  } catch (err) {
    killAll();
    process.removeListener('exit', killAll);
    fs.rmSync(base, { recursive: true, force: true });
    throw err;
  }
}

async function startZooKeeper(dir: string, children: Set<ChildProcess>): Promise<{ port: number }> {
  const libs = ensureZooKeeperJars();
  const port = await freePort();
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const cfg = path.join(dir, 'zoo.cfg');
  fs.writeFileSync(
    cfg,
    [
      `dataDir=${dir}/data`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'tickTime=500',
      'maxClientCnxns=0',
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok',
      // Standalone, no fsync wait: a test server, its data dies with the test.
      'forceSync=no',
      '',
    ].join('\n'),
  );
  const out = fs.openSync(path.join(dir, 'zookeeper.out'), 'w');
  const child = spawn('java', ['-Xmx128m', '-cp', `${libs}/*`, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg], { cwd: dir, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  children.add(child);
  child.once('exit', () => children.delete(child));
  await waitUntil(`ZooKeeper on 127.0.0.1:${port}`, 60_000, async () => {
    if (child.exitCode !== null) throw new Error(`ZooKeeper exited with ${child.exitCode}: ${tail(path.join(dir, 'zookeeper.out'))}`);
    return (await fourLetterWord(port, 'ruok')) === 'imok';
  });
  return { port };
}

function fourLetterWord(port: number, word: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(1000);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('timeout', () => (socket.destroy(), resolve(answer)));
    socket.on('error', () => resolve(''));
  });
}

async function waitUntil(what: string, timeoutMs: number, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function replicaConfig(o: {
  dir: string;
  ports: { http: number; tcp: number; interserver: number };
  zookeeperPort: number;
  shard: string;
  replica: string;
  remoteReplicas: string;
}): string {
  return `<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>${o.dir}/log/server.log</log>
        <errorlog>${o.dir}/log/server.err.log</errorlog>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>${o.ports.http}</http_port>
    <tcp_port>${o.ports.tcp}</tcp_port>
    <interserver_http_port>${o.ports.interserver}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <keep_alive_timeout>3</keep_alive_timeout>
    <path>${o.dir}/data/</path>
    <tmp_path>${o.dir}/tmp/</tmp_path>
    <user_files_path>${o.dir}/user_files/</user_files_path>
    <format_schema_path>${o.dir}/format_schemas/</format_schema_path>
    <users_config>${o.dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <mlock_executable>false</mlock_executable>
    <zookeeper>
        <node><host>127.0.0.1</host><port>${o.zookeeperPort}</port></node>
        <session_timeout_ms>6000</session_timeout_ms>
    </zookeeper>
    <macros>
        <shard>${o.shard}</shard>
        <replica>${o.replica}</replica>
    </macros>
    <remote_servers>
        <${TEST_CLUSTER_NAME}>
            <shard>
                <internal_replication>true</internal_replication>
                ${o.remoteReplicas}
            </shard>
        </${TEST_CLUSTER_NAME}>
    </remote_servers>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
</yandex>
`;
}

/** users.xml of the private test servers: user `default` without a password, loopback only, no quotas. */
export const CLICKHOUSE_TEST_USERS_XML = `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <enable_optimize_predicate_expression>1</enable_optimize_predicate_expression>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`;

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '(no log)';
  }
}
