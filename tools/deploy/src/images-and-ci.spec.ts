/**
 * Static checks of what cannot run here (no Docker engine, no GitHub): the
 * per-app Dockerfiles, their Nx docker-build targets, and the CI workflow.
 * (bundles.int.spec.ts runs what the images contain.)
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { kustomizeBuild } from './lib/k8s';

const root = path.resolve(__dirname, '../../..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const IMAGES = [
  { project: 'aggregator', dir: 'apps/aggregator', port: 9465, migrations: true },
  { project: 'producer', dir: 'apps/producer', port: 9464, migrations: true },
  { project: 'dlq-replayer', dir: 'apps/dlq-replayer', port: undefined, migrations: true },
  { project: 'ingest-gateway', dir: 'apps/ingest-gateway', port: 9467, migrations: false },
  { project: 'topics', dir: 'tools/topics', port: undefined, migrations: false },
];

interface Stage {
  from: string;
  name?: string;
  lines: string[];
}

function stages(dockerfile: string): Stage[] {
  const logical = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const out: Stage[] = [];
  for (const line of logical) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ from: from[1], name: from[2], lines: [] });
    else if (out.length) out[out.length - 1].lines.push(line);
  }
  return out;
}

describe.each(IMAGES)('$dir/Dockerfile', ({ project, dir, port, migrations }) => {
  const text = read(`${dir}/Dockerfile`);
  const [builder, runtime, ...rest] = stages(text);
  const has = (s: Stage, re: RegExp) => s.lines.some((l) => re.test(l));

  it('is multi-stage: a builder and a runtime stage on the same Node base', () => {
    expect(rest).toEqual([]);
    expect(builder.name).toBe('builder');
    expect(runtime.from).toBe(builder.from);
    expect(has(runtime, /^COPY --from=builder /)).toBe(true);
  });

  it('builds the bundle, then installs production dependencies only, compiling the native Kafka client in the builder', () => {
    expect(has(builder, new RegExp(`npx nx build ${project}\\b`))).toBe(true);
    expect(has(builder, /npm ci --omit=dev/)).toBe(true);
    expect(has(builder, /CKJS_LINKING=dynamic/)).toBe(true);
    expect(has(builder, /npm_config_build_from_source=true/)).toBe(true);
    expect(has(builder, /libssl-dev/) && has(builder, /g\+\+/)).toBe(true);
    expect(has(builder, /require\('@confluentinc\/kafka-javascript'\)/)).toBe(true);
    // Nothing is installed or compiled in the runtime stage.
    expect(has(runtime, /\bnpm\b|g\+\+|-dev\b/)).toBe(false);
    expect(has(builder, /COPY clickhouse\/init/)).toBe(migrations);
  });

  it('runs as a non-root user with an init process', () => {
    const users = runtime.lines.filter((l) => /^USER\s/.test(l));
    expect(users).toEqual(['USER node']);
    const userAt = runtime.lines.indexOf('USER node');
    const entryAt = runtime.lines.findIndex((l) => l.startsWith('ENTRYPOINT'));
    expect(userAt).toBeLessThan(entryAt);
    expect(runtime.lines[entryAt]).toBe('ENTRYPOINT ["/usr/bin/tini", "--", "node", "main.js"]');
  });

  it('exposes the metrics port the manifests probe', () => {
    if (port === undefined) {
      expect(has(runtime, /^EXPOSE/)).toBe(false);
      return;
    }
    expect(has(runtime, new RegExp(`^EXPOSE ${port}$`))).toBe(true);
    expect(has(runtime, /^HEALTHCHECK .*\/healthz/)).toBe(true);
  });

  it('has a build context limited to what it copies, and an Nx docker-build target', () => {
    const ignore = read(`${dir}/Dockerfile.dockerignore`).split('\n');
    expect(ignore[ignore.findIndex((l) => l && !l.startsWith('#'))]).toBe('*');
    expect(ignore).toContain(`!${dir}/`);
    const pj = JSON.parse(read(`${dir}/project.json`)) as Obj;
    expect(pj['targets']['docker-build'].options.command).toBe(`docker build -f ${dir}/Dockerfile -t stream-analytics/${project}:latest .`);
  });
});

describe('images in the manifests', () => {
  it('the Kubernetes base runs the images these Dockerfiles build', () => {
    const images = kustomizeBuild(path.join(root, 'infra/k8s/base'))
      .filter((m) => ['Deployment', 'StatefulSet', 'CronJob'].includes(m.kind))
      .map((m) => {
        const spec = (m as Obj)['kind'] === 'CronJob' ? (m as Obj)['spec'].jobTemplate.spec.template.spec : (m as Obj)['spec'].template.spec;
        return spec.containers[0].image as string;
      })
      .sort();
    expect(images).toEqual(['stream-analytics/aggregator:latest', 'stream-analytics/dlq-replayer:latest', 'stream-analytics/ingest-gateway:latest', 'stream-analytics/producer:latest']);
  });
});

describe('.github/workflows/ci.yml', () => {
  const wf = YAML.parse(read('.github/workflows/ci.yml')) as Obj;
  const job = wf['jobs']['affected'] as Obj;
  const runs = (j: Obj) => (j['steps'] as Obj[]).map((s) => s['run'] ?? '').join('\n');

  it('runs nx affected for lint, test and build', () => {
    expect(runs(job)).toMatch(/npx nx affected -t lint test build\b/);
    expect(job['steps'].some((s: Obj) => String(s['uses'] ?? '').startsWith('nrwl/nx-set-shas@'))).toBe(true);
    expect(job['steps'].find((s: Obj) => String(s['uses'] ?? '').startsWith('actions/checkout@'))['with']['fetch-depth']).toBe(0);
  });

  it('has Redpanda and ClickHouse service containers the tests are pointed at', () => {
    expect(Object.keys(job['services']).sort()).toEqual(['clickhouse', 'redpanda']);
    expect(job['services'].redpanda.image).toMatch(/^redpandadata\/redpanda:/);
    expect(job['services'].clickhouse.image).toMatch(/^clickhouse\/clickhouse-server:/);
    expect(wf['env']).toMatchObject({ KAFKA_BROKERS: '127.0.0.1:9092', CLICKHOUSE_URL: 'http://127.0.0.1:8123' });
  });

  it('applies the schema with the migration runner before the tests, not with SQL of its own', () => {
    const steps = job['steps'] as Obj[];
    const migrateAt = steps.findIndex((st) => /^npx nx run aggregator:migrate\b/.test(String(st['run'] ?? '').trim()));
    const testsAt = steps.findIndex((st) => /nx affected -t lint test build/.test(String(st['run'] ?? '')));
    expect(migrateAt).toBeGreaterThan(-1);
    expect(migrateAt).toBeLessThan(testsAt);
    expect(runs(job)).not.toMatch(/clickhouse\/init|readdirSync/);
  });

  it('builds the affected images', () => {
    expect(runs(wf['jobs']['images'])).toMatch(/npx nx affected -t docker-build/);
  });
});
