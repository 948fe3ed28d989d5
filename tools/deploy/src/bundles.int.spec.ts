/**
 * What each container image holds, checked without Docker: the built bundle
 * (dist/...) copied to a folder outside the workspace, with only its
 * production dependencies installed from its own package.json/lock file
 * (npm ci --omit=dev, as the Dockerfiles' builder stage does), must start
 * from that folder and answer --help; the aggregator and the producer must
 * also do real work from there against the real Kafka and ClickHouse.
 *
 * The one shortcut: the native Kafka client is not compiled again per bundle
 * (about two minutes each on these machines); its build output is taken from
 * the workspace install, which was compiled the same way
 * (CKJS_LINKING=dynamic, against Debian's libraries) as the Dockerfiles do.
 * Set BUNDLE_NATIVE_BUILD=1 to compile it in every bundle instead.
 */
import { createTestTopic, getTestEndpoints, readTopic, workspaceRoot } from '@stream-analytics/testing';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

jest.setTimeout(300_000);

const root = workspaceRoot();
const BUNDLES = [
  { name: 'aggregator', dist: 'dist/apps/aggregator', usage: /^Usage: aggregator \[options\]/, migrations: true },
  { name: 'producer', dist: 'dist/apps/producer', usage: /^Usage: producer \[options\]/, migrations: false },
  { name: 'dlq-replayer', dist: 'dist/apps/dlq-replayer', usage: /^Usage: dlq-replayer <command>/, migrations: true },
  { name: 'ingest-gateway', dist: 'dist/apps/ingest-gateway', usage: /^Usage: ingest-gateway \[options\]/, migrations: false },
  { name: 'topics', dist: 'dist/tools/topics', usage: /^Usage: provision-topics \[options\]/, migrations: false },
];
const DEV_TOOLING = ['jest', 'nx', 'typescript', '@nx', 'esbuild', '@swc', 'ts-node', 'eslint', 'chdb', 'testcontainers'];

let base: string;
const installed = new Map<string, string>();

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { cwd, env: { ...cleanEnv(), ...env }, timeout: 280_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** The environment minus anything that would let a bundle find workspace modules. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_PATH'];
  delete env['NODE_OPTIONS'];
  return env;
}

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'bundles-'));
  // Nothing above the bundles may provide node_modules.
  for (let dir = path.dirname(base); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'node_modules'))) throw new Error(`${dir}/node_modules exists; the bundles would not be isolated`);
    if (path.dirname(dir) === dir) break;
  }
  const nativeBuild = path.join(root, 'node_modules/@confluentinc/kafka-javascript/build');
  for (const b of BUNDLES) {
    const src = path.join(root, b.dist);
    if (!fs.existsSync(path.join(src, 'main.js'))) throw new Error(`${src}/main.js is missing; run: npx nx build ${b.name}`);
    const dir = path.join(base, b.name);
    fs.cpSync(src, dir, { recursive: true });
    if (b.migrations) fs.cpSync(path.join(root, 'clickhouse/init'), path.join(dir, 'clickhouse/init'), { recursive: true });
    const native = process.env['BUNDLE_NATIVE_BUILD'] === '1';
    const r = await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', ...(native ? [] : ['--ignore-scripts'])], dir, {
      CKJS_LINKING: 'dynamic',
      npm_config_build_from_source: 'true',
    });
    if (r.code !== 0) throw new Error(`npm ci --omit=dev failed in ${dir}:\n${r.stderr}`);
    if (!native) {
      const want = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules/@confluentinc/kafka-javascript/package.json'), 'utf8')).version;
      const have = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/@confluentinc/kafka-javascript/package.json'), 'utf8')).version;
      expect(have).toBe(want);
      fs.cpSync(nativeBuild, path.join(dir, 'node_modules/@confluentinc/kafka-javascript/build'), { recursive: true });
    }
    installed.set(b.name, dir);
  }
}, 300_000);

afterAll(() => {
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

describe.each(BUNDLES)('$name bundle, from its own folder', ({ name, usage }) => {
  it('has production dependencies only', () => {
    const dir = installed.get(name)!;
    const top = fs.readdirSync(path.join(dir, 'node_modules'));
    for (const dev of DEV_TOOLING) expect({ name, dev, present: top.includes(dev) }).toEqual({ name, dev, present: false });
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    expect(pkg.devDependencies ?? {}).toEqual({});
    expect(Object.keys(pkg.dependencies)).toContain('@confluentinc/kafka-javascript');
  });

  it('answers --help', async () => {
    const r = await run(process.execPath, ['main.js', '--help'], installed.get(name)!);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(usage);
  });
});

describe('bundles doing real work from their own folders', () => {
  it('the producer sends events to Kafka', async () => {
    const { kafkaBrokers } = await getTestEndpoints();
    const topic = await createTestTopic(kafkaBrokers, { prefix: 'bundle-test.raw', partitions: 2 });
    const r = await run(process.execPath, ['main.js', '--brokers', kafkaBrokers, '--topic', topic, '--rate', '500', '--count', '200', '--metrics-port', '0'], installed.get('producer')!);
    expect(r.code).toBe(0);
    expect((await readTopic(kafkaBrokers, topic, { partitions: 2 })).length).toBe(200);
  });

  it('the aggregator with --migrate-only applies its migrations and exits 0, needing no Kafka', async () => {
    const { clickhouseUrl } = await getTestEndpoints();
    const dir = installed.get('aggregator') ?? '';
    const r = await run(process.execPath, ['main.js', '--migrate-only'], dir, { KAFKA_BROKERS: '127.0.0.1:1', CLICKHOUSE_URL: clickhouseUrl });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const done = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; dir?: string; skipped?: number; applied?: string[] })
      .find((l) => l.msg === 'ClickHouse schema up to date');
    expect(done?.dir).toBe(path.join(dir, 'clickhouse/init'));
    expect((done?.skipped ?? 0) + (done?.applied?.length ?? 0)).toBe(fs.readdirSync(path.join(root, 'clickhouse/init')).filter((f) => f.endsWith('.sql')).length);
  });

  it('the aggregator finds its migrations next to main.js, becomes healthy and stops cleanly', async () => {
    const { kafkaBrokers, clickhouseUrl } = await getTestEndpoints();
    const topic = await createTestTopic(kafkaBrokers, { prefix: 'bundle-test.raw', partitions: 1 });
    const dir = installed.get('aggregator')!;
    const child = spawn(process.execPath, ['main.js'], {
      cwd: dir,
      env: {
        ...cleanEnv(),
        KAFKA_BROKERS: kafkaBrokers,
        CLICKHOUSE_URL: clickhouseUrl,
        RAW_TOPIC: topic,
        CONSUMER_GROUP: `bundle-test-${process.pid}`,
        METRICS_PORT: '0',
        FLUSH_INTERVAL_SECS: '1',
        // Other tests' windows lie years in the past in the same ClickHouse.
        RETENTION_INTERVAL_SECS: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      let port: number | undefined;
      let ready = false;
      while (Date.now() < deadline && !ready) {
        port ??= Number(/"metricsPort":(\d+)/.exec(out)?.[1]) || undefined;
        if (port && /ClickHouse schema up to date/.test(out)) {
          const [live, readyz] = await Promise.all([fetch(`http://127.0.0.1:${port}/healthz`), fetch(`http://127.0.0.1:${port}/readyz`)]);
          ready = live.ok && readyz.ok;
        }
        if (!ready) await new Promise((r) => setTimeout(r, 250));
      }
      expect({ ready, out: ready ? '' : out }).toEqual({ ready: true, out: '' });
      // The migrations it applied came from <bundle>/clickhouse/init, not the workspace.
      expect(out).not.toMatch(/migrations.*not found|ENOENT/i);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^aggregator_/m);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
