/**
 * Static checks of what cannot run here (no Docker engine, no GitHub): the
 * one Dockerfile of every app, the apps' Nx docker-build targets, and the CI workflow.
 * (bundles.int.spec.ts runs what the images contain.)
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { kustomizeBuild } from './lib/k8s';

const root = path.resolve(__dirname, '../../..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The images, all built from the one Dockerfile: the service stage for long-running apps, the runtime stage for jobs. */
const DOCKERFILE = 'infra/docker/Dockerfile';
const IMAGES = [
  { project: 'aggregator', dir: 'apps/aggregator', port: 9465, target: 'service' },
  { project: 'producer', dir: 'apps/producer', port: 9464, target: 'service' },
  { project: 'dlq-replayer', dir: 'apps/dlq-replayer', port: undefined, target: 'runtime' },
  { project: 'ingest-gateway', dir: 'apps/ingest-gateway', port: 9467, target: 'service' },
  { project: 'topics', dir: 'tools/topics', port: undefined, target: 'runtime' },
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

/** The build arguments and target of a `docker build` command line. */
function dockerBuildOf(command: string): { file?: string; args: Record<string, string>; target?: string; tag?: string } {
  const args: Record<string, string> = {};
  for (const m of command.matchAll(/--build-arg (\w+)=('[^']*'|\S+)/g)) args[m[1]] = m[2].replace(/^'|'$/g, '');
  return { file: /-f (\S+)/.exec(command)?.[1], args, target: /--target (\S+)/.exec(command)?.[1], tag: /-t (\S+)/.exec(command)?.[1] };
}

describe(DOCKERFILE, () => {
  const [builder, runtime, service, ...rest] = stages(read(DOCKERFILE));
  const has = (s: Stage, re: RegExp) => s.lines.some((l) => re.test(l));

  it('is multi-stage: a builder, a runtime stage on the same Node base, and a service stage on the runtime', () => {
    expect(rest).toEqual([]);
    expect([builder.name, runtime.name, service.name]).toEqual(['builder', 'runtime', 'service']);
    expect(runtime.from).toBe(builder.from);
    expect(service.from).toBe('runtime');
    expect(has(runtime, /^COPY --from=builder /)).toBe(true);
  });

  it('builds the app named by its build arguments, then installs production dependencies only, compiling the native Kafka client in the builder', () => {
    expect(has(builder, /^ARG APP$/) && has(builder, /^ARG APP_DIR=apps\/\$\{APP\}$/)).toBe(true);
    expect(has(builder, /^COPY \$\{APP_DIR\} \.\/\$\{APP_DIR\}$/)).toBe(true);
    expect(has(builder, /npx nx build \$\{APP\}/)).toBe(true);
    expect(has(builder, /npm ci --omit=dev/)).toBe(true);
    expect(has(builder, /CKJS_LINKING=dynamic/)).toBe(true);
    expect(has(builder, /npm_config_build_from_source=true/)).toBe(true);
    expect(has(builder, /libssl-dev/) && has(builder, /g\+\+/)).toBe(true);
    expect(has(builder, /require\('@confluentinc\/kafka-javascript'\)/)).toBe(true);
    // The client compiled once, with the repository's patch applied first by the bootstrap's own script.
    expect(has(builder, /npm ci --omit=dev --ignore-scripts .*&& bash \/src\/tools\/run\/patch-native\.sh --install-scripts \/bundle/)).toBe(true);
    expect(has(builder, /^COPY tools\/run\/patch-native\.sh \.\/tools\/run\/$/) && has(builder, /^COPY patches \.\/patches$/)).toBe(true);
    expect(has(builder, /apt-get install .*\bpatch\b/)).toBe(true);
    expect(has(builder, /COPY clickhouse\/init/)).toBe(true);
    // Nothing is installed or compiled in the runtime stages.
    for (const s of [runtime, service]) expect(has(s, /\bnpm\b|g\+\+|-dev\b/)).toBe(false);
  });

  it('runs as a non-root user with an init process', () => {
    const users = runtime.lines.filter((l) => /^USER\s/.test(l));
    expect(users).toEqual(['USER node']);
    const userAt = runtime.lines.indexOf('USER node');
    const entryAt = runtime.lines.findIndex((l) => l.startsWith('ENTRYPOINT'));
    expect(userAt).toBeLessThan(entryAt);
    expect(runtime.lines[entryAt]).toBe('ENTRYPOINT ["/usr/bin/tini", "--", "node", "main.js"]');
    expect(service.lines.some((l) => /^(USER|ENTRYPOINT)\s/.test(l))).toBe(false);
  });

  it('exposes the metrics port in the service stage only, and checks its /healthz', () => {
    expect(has(runtime, /^(EXPOSE|HEALTHCHECK)/)).toBe(false);
    expect(has(service, /^ENV METRICS_PORT=\$\{METRICS_PORT\}$/)).toBe(true);
    expect(has(service, /^EXPOSE \$\{EXPOSE_PORTS\}$/)).toBe(true);
    expect(has(service, /^HEALTHCHECK .*process\.env\.METRICS_PORT.*\/healthz/)).toBe(true);
  });

  it('has a build context limited to what it copies', () => {
    const ignore = read(`${DOCKERFILE}.dockerignore`).split('\n');
    expect(ignore[ignore.findIndex((l) => l && !l.startsWith('#'))]).toBe('*');
    for (const dir of ['libs/', 'apps/', 'tools/topics/', 'clickhouse/init/', 'tools/run/patch-native.sh', 'patches/']) expect(ignore).toContain(`!${dir}`);
  });
});

describe.each(IMAGES)('the $project image', ({ project, dir, port, target }) => {
  const pj = JSON.parse(read(`${dir}/project.json`)) as Obj;
  const build = dockerBuildOf(pj['targets']['docker-build'].options.command);
  const wanted = {
    APP: project,
    ...(dir === `apps/${project}` ? {} : { APP_DIR: dir }),
    ...(port === undefined ? {} : { METRICS_PORT: String(port) }),
  };

  it('is built by its Nx docker-build target from the one Dockerfile, with its project, folder, stage and port', () => {
    expect(build).toMatchObject({ file: DOCKERFILE, target, tag: `stream-analytics/${project}:latest` });
    expect(build.args).toMatchObject(wanted);
    expect(Object.keys(build.args).filter((k) => !['APP', 'APP_DIR', 'METRICS_PORT', 'EXPOSE_PORTS'].includes(k))).toEqual([]);
  });

  it('is built the same way by docker-compose', () => {
    const compose = YAML.parse(read('infra/docker-compose.yml'), { merge: true }) as Obj;
    const built = Object.values(compose['services'] as Record<string, Obj>).filter((s) => String(s['image'] ?? '').startsWith(`stream-analytics/${project}:`) && s['build']);
    expect(built.length).toBeGreaterThan(0);
    for (const s of built) expect(s['build']).toEqual({ context: '..', dockerfile: DOCKERFILE, target, args: build.args });
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

  it('runs nx affected for lint, test, integration and build', () => {
    expect(runs(job)).toMatch(/npx nx affected -t lint test integration build\b/);
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
    const testsAt = steps.findIndex((st) => /nx affected -t lint test integration build/.test(String(st['run'] ?? '')));
    expect(migrateAt).toBeGreaterThan(-1);
    expect(migrateAt).toBeLessThan(testsAt);
    expect(runs(job)).not.toMatch(/clickhouse\/init|readdirSync/);
  });

  it('runs the no-server tests again with the wall clock moved', () => {
    expect(runs(job)).toMatch(/apt-get install .*faketime/);
    expect(runs(job)).toMatch(/bash tools\/run\/test-clock\.sh/);
  });

  it('builds the affected images', () => {
    expect(runs(wf['jobs']['images'])).toMatch(/npx nx affected -t docker-build/);
  });
});
