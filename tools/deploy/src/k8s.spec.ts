/**
 * infra/k8s: the base and the dev/prod overlays render with kustomize and
 * every manifest validates against the Kubernetes (and KEDA) schemas; then the
 * properties the deployment relies on are checked on the rendered output.
 */
import fs from 'node:fs';
import path from 'node:path';
// The topic profiles are the single source of partition counts.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { PROFILE_SHAPES } from '../../topics/src/lib/profiles';
import { splitUrls } from '@stream-analytics/clickhouse-sink';
import { kustomizeBuild, parseYamlDocuments, validateManifests, type Manifest } from './lib/k8s';

const root = path.resolve(__dirname, '../../..');
const k8s = path.join(root, 'infra/k8s');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const rendered: Record<string, Manifest[]> = {};
const render = (name: string, dir: string) => (rendered[name] ??= kustomizeBuild(path.join(k8s, dir)));

const OVERLAYS = [
  { name: 'dev', dir: 'overlays/dev', namespace: 'stream-analytics-dev', profile: 'dev' as const },
  { name: 'prod', dir: 'overlays/prod', namespace: 'stream-analytics', profile: 'prod' as const },
];

const find = (ms: Manifest[], kind: string, name: string): Obj => {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`no ${kind} ${name} in ${ms.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return m as Obj;
};
const podSpec = (w: Obj): Obj => (w['kind'] === 'CronJob' ? w['spec'].jobTemplate.spec.template.spec : w['spec'].template.spec);
const podLabels = (w: Obj): Obj => (w['kind'] === 'CronJob' ? w['spec'].jobTemplate.spec.template.metadata.labels : w['spec'].template.metadata.labels);

describe('schema validation', () => {
  it.each([['base', 'base'], ...OVERLAYS.map((o) => [o.name, o.dir])])('%s renders and every manifest validates', (name, dir) => {
    const manifests = render(name, dir);
    expect(manifests.length).toBeGreaterThan(5);
    const results = validateManifests(manifests);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.length).toBe(manifests.length);
  });

  it('the standalone Job templates validate', () => {
    const dir = path.join(k8s, 'jobs');
    const docs = fs.readdirSync(dir).flatMap((f) => parseYamlDocuments(fs.readFileSync(path.join(dir, f), 'utf8')));
    expect(docs.length).toBeGreaterThan(0);
    expect(validateManifests(docs).filter((r) => !r.ok)).toEqual([]);
  });

  it('the validator rejects broken manifests (it is not a no-op)', () => {
    const sts = JSON.parse(JSON.stringify(find(render('prod', 'overlays/prod'), 'StatefulSet', 'aggregator'))) as Obj;
    sts['spec'].replicas = 'six';
    const so = JSON.parse(JSON.stringify(find(render('prod', 'overlays/prod'), 'ScaledObject', 'aggregator'))) as Obj;
    delete so['spec'].scaleTargetRef;
    const pdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'x' }, spec: { minAvailable: { nope: 1 } } };
    const unknown = { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' } };
    const results = validateManifests([sts, so, pdb, unknown]);
    expect(results.map((r) => r.ok)).toEqual([false, false, false, false]);
    expect(results[0].error).toMatch(/replicas must be integer/);
    expect(results[1].error).toMatch(/scaleTargetRef/);
    expect(results[3].error).toMatch(/no schema for example.com\/v1 Gadget/);
  });
});

describe.each(OVERLAYS)('$name overlay', ({ name, dir, namespace, profile }) => {
  const ms = () => render(name, dir);
  const workloads = () => ms().filter((m) => ['Deployment', 'StatefulSet', 'CronJob', 'Job'].includes(m.kind)) as Obj[];
  const config = () => ms().find((m) => m.kind === 'ConfigMap' && m.metadata.name?.startsWith('stream-analytics-config')) as Obj;

  it('puts every namespaced resource in its namespace', () => {
    for (const m of ms()) {
      if (m.kind === 'Namespace') expect(m.metadata.name).toBe(namespace);
      else expect({ r: `${m.kind}/${m.metadata.name}`, ns: m.metadata.namespace }).toEqual({ r: `${m.kind}/${m.metadata.name}`, ns: namespace });
    }
  });

  it('configures the apps with the shared environment names, by reference', () => {
    const data = config()['data'] as Record<string, string>;
    for (const key of ['KAFKA_BROKERS', 'RAW_TOPIC', 'AGG_TOPIC', 'DLQ_TOPIC', 'CONSUMER_GROUP', 'CLICKHOUSE_URL', 'CLICKHOUSE_DATABASE', 'FLUSH_INTERVAL_SECS']) {
      expect(data[key]).toBeTruthy();
    }
    expect(data['RAW_TOPIC']).toBe('iot.telemetry.raw.v1');
    for (const w of workloads()) {
      for (const c of podSpec(w)['containers'] as Obj[]) {
        expect((c['envFrom'] as Obj[]).map((e) => e['configMapRef']?.name)).toContain(config()['metadata'].name);
        // Secrets only by reference: no literal password anywhere (a *_FILE names a mounted file).
        for (const e of (c['env'] ?? []) as Obj[]) if (/PASSWORD|SECRET/.test(e['name']) && !e['name'].endsWith('_FILE')) expect(e['value']).toBeUndefined();
      }
    }
  });

  it('runs every container unprivileged, with requests and limits', () => {
    for (const w of workloads()) {
      const spec = podSpec(w);
      expect(spec['securityContext'].runAsNonRoot).toBe(true);
      expect(spec['automountServiceAccountToken']).toBe(false);
      for (const c of spec['containers'] as Obj[]) {
        expect(c['securityContext'].allowPrivilegeEscalation).toBe(false);
        expect(c['securityContext'].readOnlyRootFilesystem).toBe(true);
        for (const k of ['requests', 'limits']) for (const r of ['cpu', 'memory']) expect(c['resources']?.[k]?.[r]).toBeTruthy();
      }
    }
  });

  it('probes the long-running apps on their health endpoints and metrics port', () => {
    const services = workloads().filter((w) => w['kind'] === 'Deployment' || w['kind'] === 'StatefulSet');
    expect(services.map((w) => w['metadata'].name).sort()).toEqual(['aggregator', 'ingest-gateway', 'producer']);
    for (const w of services) {
      const [c] = podSpec(w)['containers'] as Obj[];
      const port = (c['ports'] as Obj[]).find((p) => p['name'] === 'metrics')!;
      const metricsEnv = (c['env'] as Obj[]).find((e) => e['name'] === 'METRICS_PORT');
      expect(String(port['containerPort'])).toBe(metricsEnv!['value']);
      expect(c['livenessProbe'].httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(c['readinessProbe'].httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    }
    expect(String((podSpec(find(ms(), 'StatefulSet', 'aggregator'))['containers'][0]['ports'] as Obj[])[0]['containerPort'])).toBe('9465');
    expect(String((podSpec(find(ms(), 'Deployment', 'producer'))['containers'][0]['ports'] as Obj[])[0]['containerPort'])).toBe('9464');
    const gatewayPorts = podSpec(find(ms(), 'Deployment', 'ingest-gateway'))['containers'][0]['ports'] as Obj[];
    expect(gatewayPorts.map((p) => [p['name'], String(p['containerPort'])])).toEqual([['http', '8088'], ['metrics', '9467']]);
  });

  it('runs the ingest gateway as a Deployment autoscaled by an HPA, with the MQTT broker, its credentials and the tokens by reference', () => {
    const deployment = find(ms(), 'Deployment', 'ingest-gateway');
    const hpa = find(ms(), 'HorizontalPodAutoscaler', 'ingest-gateway');
    expect(hpa['spec'].scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'ingest-gateway' });
    expect(hpa['spec'].minReplicas).toBeGreaterThanOrEqual(2);
    expect(deployment['spec'].replicas).toBeGreaterThanOrEqual(hpa['spec'].minReplicas);
    expect(deployment['spec'].replicas).toBeLessThanOrEqual(hpa['spec'].maxReplicas);
    const data = config()['data'] as Record<string, string>;
    expect(data['MQTT_URL']).toMatch(/^mqtts?:\/\/[\w.-]+:\d+$/);
    expect(data['MQTT_TOPIC']).toBe('devices/+/telemetry');
    expect(data['MQTT_SHARE_GROUP']).toBeTruthy();
    const spec = podSpec(deployment);
    const env = spec['containers'][0]['env'] as Obj[];
    const byName = (n: string) => env.find((e) => e['name'] === n);
    expect(byName('MQTT_CLIENT_ID')!['valueFrom']).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(byName('MQTT_USERNAME')!['valueFrom'].secretKeyRef).toMatchObject({ key: 'MQTT_USERNAME' });
    expect(byName('MQTT_PASSWORD')!['valueFrom'].secretKeyRef).toMatchObject({ key: 'MQTT_PASSWORD' });
    const tokensVolume = (spec['volumes'] as Obj[]).find((v) => v['name'] === 'tokens')!;
    const mount = (spec['containers'][0]['volumeMounts'] as Obj[]).find((m) => m['name'] === 'tokens')!;
    expect(byName('INGEST_TOKENS_FILE')!['value']).toBe(`${mount['mountPath']}/tokens`);
    const tokensSecret = tokensVolume['secret'].secretName as string;
    const secrets = ms().filter((m) => m.kind === 'Secret').map((m) => m.metadata.name);
    if (name === 'prod') expect(secrets).not.toContain(tokensSecret);
    else expect(secrets).toContain(tokensSecret);
    const service = find(ms(), 'Service', 'ingest-gateway');
    expect((service['spec'].ports as Obj[]).map((p) => p['port'])).toEqual([8088, 9467]);
    expect(spec['terminationGracePeriodSeconds']).toBeGreaterThan(30);
  });

  it('has a PodDisruptionBudget selecting each long-running app', () => {
    const pdbs = ms().filter((m) => m.kind === 'PodDisruptionBudget') as Obj[];
    for (const w of workloads().filter((x) => x['kind'] !== 'CronJob' && x['kind'] !== 'Job')) {
      const labels = podLabels(w);
      const pdb = pdbs.find((p) => Object.entries(p['spec'].selector.matchLabels as Obj).every(([k, v]) => labels[k] === v));
      expect({ workload: w['metadata'].name, pdb: !!pdb }).toEqual({ workload: w['metadata'].name, pdb: true });
      expect(Boolean(pdb!['spec'].minAvailable !== undefined) !== Boolean(pdb!['spec'].maxUnavailable !== undefined)).toBe(true);
    }
  });

  it('gives the aggregator static group membership from its (stable) pod name', () => {
    const sts = find(ms(), 'StatefulSet', 'aggregator');
    const env = podSpec(sts)['containers'][0]['env'] as Obj[];
    expect(env.find((e) => e['name'] === 'GROUP_INSTANCE_ID')!['valueFrom']).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(sts['spec'].serviceName).toBe('aggregator');
    find(ms(), 'Service', 'aggregator');
  });

  it('applies the schema with the migration runner only: each aggregator migrates at start, no SQL in the manifests', () => {
    const text = JSON.stringify(ms());
    expect(text).not.toMatch(/CREATE TABLE|docker-entrypoint-initdb|clickhouse\/init/i);
    const container = podSpec(find(ms(), 'StatefulSet', 'aggregator'))['containers'][0] as Obj;
    const env = [...((container['env'] ?? []) as Obj[]).map((e) => [e['name'], e['value']]), ...Object.entries(config()['data'] as Obj)];
    expect(env.filter(([k]) => /^CLICKHOUSE_MIGRATE/.test(String(k)))).toEqual([]);
    expect(container['args'] ?? []).not.toContain('--migrate-only');
    expect(config()['data']['CLICKHOUSE_SCHEMA_PROFILE'] ?? 'single').toBe(name === 'prod' ? 'replicated' : 'single');
  });

  it('reads ClickHouse credentials from a Secret by reference, the password as a mounted file', () => {
    const pod = podSpec(find(ms(), 'StatefulSet', 'aggregator'));
    const env = pod['containers'][0]['env'] as Obj[];
    const refs = env.filter((e) => e['valueFrom']?.secretKeyRef).map((e) => [e['name'], e['valueFrom'].secretKeyRef.key, e['valueFrom'].secretKeyRef.name]);
    expect(refs.map((r) => r.slice(0, 2))).toEqual([['CLICKHOUSE_USER', 'CLICKHOUSE_USER']]);
    const file = env.find((e) => e['name'] === 'CLICKHOUSE_PASSWORD_FILE')!['value'] as string;
    const mount = (pod['containers'][0]['volumeMounts'] as Obj[]).find((m) => file.startsWith(`${m['mountPath']}/`))!;
    const volume = (pod['volumes'] as Obj[]).find((v) => v['name'] === mount['name'])!;
    expect(volume['secret'].secretName).toMatch(/^stream-analytics-clickhouse/);
    expect(volume['secret'].items).toEqual([{ key: 'CLICKHOUSE_PASSWORD', path: file.slice(mount['mountPath'].length + 1) }]);
    expect(env.some((e) => e['name'] === 'CLICKHOUSE_PASSWORD')).toBe(false);
    const secrets = ms().filter((m) => m.kind === 'Secret');
    if (name === 'prod') {
      // Created outside Git; the manifests only name it.
      expect(secrets).toEqual([]);
      expect(refs.every((r) => r[2] === 'stream-analytics-clickhouse')).toBe(true);
    } else {
      expect(secrets.map((s) => s.metadata.name)).toContain(refs[0][2]);
    }
  });

  if (name === 'prod') {
    it('connects every app over SASL_SSL as its own user, password and CA mounted from Secrets as files', () => {
      const data = config()['data'] as Record<string, string>;
      expect(data).toMatchObject({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512' });
      const users: Record<string, string> = { aggregator: 'aggregator', producer: 'producer', 'dlq-replayer': 'replayer', 'ingest-gateway': 'gateway' };
      for (const w of workloads()) {
        const pod = podSpec(w);
        const c = pod['containers'][0];
        const env = c['env'] as Obj[];
        expect(env.find((e) => e['name'] === 'KAFKA_SASL_USERNAME')?.['value']).toBe(users[w['metadata'].name]);
        expect(env.some((e) => e['name'] === 'KAFKA_SASL_PASSWORD')).toBe(false);
        for (const file of [data['KAFKA_SASL_PASSWORD_FILE'], data['KAFKA_SSL_CA_LOCATION']]) {
          const mount = (c['volumeMounts'] as Obj[]).find((m) => file.startsWith(`${m['mountPath']}/`));
          expect({ file, mounted: !!mount?.['readOnly'] }).toEqual({ file, mounted: true });
          const volume = (pod['volumes'] as Obj[]).find((v) => v['name'] === mount!['name'])!;
          expect(volume['secret'].secretName).toMatch(/^stream-analytics-kafka-/);
        }
        expect((pod['volumes'] as Obj[]).find((v) => v['name'] === 'kafka-password')!['secret'].secretName).toBe(`stream-analytics-kafka-${users[w['metadata'].name]}`);
      }
    });
  }

  it('autoscales the aggregator on consumer lag of the raw topic, never beyond its partition count', () => {
    const so = find(ms(), 'ScaledObject', 'aggregator');
    const sts = find(ms(), 'StatefulSet', 'aggregator');
    const partitions = PROFILE_SHAPES[profile].partitions.raw;
    const data = config()['data'] as Record<string, string>;
    expect(so['spec'].scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'aggregator' });
    const [trigger] = so['spec'].triggers as Obj[];
    expect(trigger['type']).toBe('kafka');
    expect(trigger['metadata']).toMatchObject({
      bootstrapServers: data['KAFKA_BROKERS'],
      consumerGroup: data['CONSUMER_GROUP'],
      topic: data['RAW_TOPIC'],
      allowIdleConsumers: 'false',
      offsetResetPolicy: 'earliest',
    });
    expect(Number(trigger['metadata'].lagThreshold)).toBeGreaterThan(0);
    expect(so['spec'].maxReplicaCount).toBeLessThanOrEqual(partitions);
    expect(so['spec'].minReplicaCount).toBeLessThanOrEqual(so['spec'].maxReplicaCount);
    expect(sts['spec'].replicas).toBeLessThanOrEqual(so['spec'].maxReplicaCount);
    expect(sts['spec'].replicas).toBeGreaterThanOrEqual(so['spec'].minReplicaCount);
  });

  it('keeps the DLQ replayer a job (suspended CronJob template), not a service', () => {
    const cron = find(ms(), 'CronJob', 'dlq-replayer');
    expect(cron['spec'].suspend).toBe(true);
    expect(podSpec(cron)['restartPolicy']).toBe('Never');
    expect(ms().some((m) => m.kind === 'Deployment' && m.metadata.name === 'dlq-replayer')).toBe(false);
  });
});

describe('prod overlay specifics', () => {
  const ms = () => render('prod', 'overlays/prod');

  it('pins released images, not latest', () => {
    for (const w of ms().filter((m) => ['Deployment', 'StatefulSet', 'CronJob'].includes(m.kind)) as Obj[]) {
      for (const c of podSpec(w)['containers'] as Obj[]) expect(c['image']).toMatch(/^[^:]+\/[^:]+:(?!latest$)[\w.-]+$/);
    }
  });

  it('sizes the aggregator for the 48-partition prod profile and spreads it over zones and nodes', () => {
    const sts = find(ms(), 'StatefulSet', 'aggregator');
    const so = find(ms(), 'ScaledObject', 'aggregator');
    expect(so['spec'].minReplicaCount).toBe(6);
    expect(so['spec'].maxReplicaCount).toBe(24);
    expect(PROFILE_SHAPES.prod.partitions.raw % so['spec'].maxReplicaCount).toBe(0);
    expect((podSpec(sts)['topologySpreadConstraints'] as Obj[]).map((t) => t['topologyKey'])).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
    const pdb = find(ms(), 'PodDisruptionBudget', 'aggregator');
    expect(pdb['spec'].minAvailable).toBeLessThan(so['spec'].minReplicaCount);
    expect(find(ms(), 'Deployment', 'producer')['spec'].replicas).toBe(0);
  });

  it('points the apps at both replicas of the replicated ClickHouse it documents, with the replicated schema profile', () => {
    const config = ms().find((m) => m.kind === 'ConfigMap' && m.metadata.name?.startsWith('stream-analytics-config')) as Obj;
    const chi = parseYamlDocuments(fs.readFileSync(path.join(k8s, 'clickhouse/clickhouse-installation.yaml'), 'utf8'))[0] as Obj;
    expect(chi['kind']).toBe('ClickHouseInstallation');
    const [cluster] = chi['spec'].configuration.clusters as Obj[];
    expect(cluster['layout']).toEqual({ shardsCount: 1, replicasCount: 2 });
    expect((chi['spec'].configuration.zookeeper.nodes as Obj[]).length).toBeGreaterThanOrEqual(3);
    // The operator names one Service per replica chi-<installation>-<cluster>-<shard>-<replica>.
    const replicaHosts = [0, 1].map((r) => `chi-${chi['metadata'].name}-${cluster['name']}-0-${r}.clickhouse.svc.cluster.local`);
    const urls = splitUrls(config['data'].CLICKHOUSE_URL).map((u) => new URL(u));
    expect(urls.map((u) => u.hostname)).toEqual(replicaHosts);
    // https on the replicas' own Services, with the CA the apps mount.
    expect(urls.every((u) => u.protocol === 'https:' && u.port === '8443')).toBe(true);
    expect(config['data']['CLICKHOUSE_CA_CERT']).toMatch(/^\/var\/run\/secrets\//);
    expect(config['data']).toMatchObject({ CLICKHOUSE_SCHEMA_PROFILE: 'replicated', CLICKHOUSE_INSERT_QUORUM: '2', CLICKHOUSE_ON_QUORUM_LOSS: 'degrade' });
  });

  it('the replicated ClickHouse has a writer user for the aggregator and a read-only one for Grafana, passwords from a Secret', () => {
    const chi = parseYamlDocuments(fs.readFileSync(path.join(k8s, 'clickhouse/clickhouse-installation.yaml'), 'utf8'))[0] as Obj;
    const { users, profiles } = chi['spec'].configuration as Obj;
    expect(users['aggregator/profile']).toBe('stream_analytics_writer');
    expect(profiles['stream_analytics_writer/readonly']).toBeUndefined();
    expect(users['grafana/profile']).toBe('stream_analytics_reader');
    expect(profiles['stream_analytics_reader/readonly']).toBe(1);
    for (const user of ['aggregator', 'grafana']) {
      expect(users[`${user}/password_sha256_hex`].valueFrom.secretKeyRef.name).toBe('stream-analytics-clickhouse-users');
      expect(users[`${user}/password`]).toBeUndefined();
    }
    // Grafana's data source takes its user from the environment: the read-only one.
    const datasource = fs.readFileSync(path.join(root, 'grafana/provisioning/datasources', fs.readdirSync(path.join(root, 'grafana/provisioning/datasources'))[0]), 'utf8');
    expect(datasource).toMatch(/username: \$\{CLICKHOUSE_USER\}/);
    expect(datasource).toMatch(/CLICKHOUSE_USER\s+the read-only reader/);
  });
});

describe('monitoring component (Prometheus Operator)', () => {
  // An overlay of dev plus the component, rendered as an operator user would add it.
  const overlay = path.join(k8s, 'overlays', `.test-monitoring-${process.pid}`);
  let ms: Manifest[];
  beforeAll(() => {
    fs.mkdirSync(overlay, { recursive: true });
    fs.writeFileSync(
      path.join(overlay, 'kustomization.yaml'),
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: stream-analytics-dev\nresources:\n  - ../dev\ncomponents:\n  - ../../components/monitoring\n',
    );
    try {
      ms = kustomizeBuild(overlay);
    } finally {
      fs.rmSync(overlay, { recursive: true, force: true });
    }
  });

  it('scrapes every long-running app on its metrics container port, with the app\u2019s name as the job', () => {
    const monitor = find(ms, 'PodMonitor', 'stream-analytics-apps');
    expect(monitor['metadata']['namespace']).toBe('stream-analytics-dev');
    expect(monitor['spec']['jobLabel']).toBe('app.kubernetes.io/name');
    const selected: string[] = monitor['spec']['selector']['matchExpressions'][0]['values'];
    const port = monitor['spec']['podMetricsEndpoints'][0]['port'];
    const workloads = ms.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet') as Obj[];
    const withMetrics = workloads.filter((w) => w['spec']['template']['spec']['containers'].some((c: Obj) => (c['ports'] ?? []).some((p: Obj) => p['name'] === port)));
    expect(withMetrics.map((w) => w['spec']['template']['metadata']['labels']['app.kubernetes.io/name']).sort()).toEqual([...selected].sort());
  });

  it('carries the pipeline\u2019s rules as a PrometheusRule in the overlay\u2019s namespace', () => {
    const rule = find(ms, 'PrometheusRule', 'stream-analytics');
    expect(rule['metadata']['namespace']).toBe('stream-analytics-dev');
    const alerts = (rule['spec']['groups'] as Obj[]).flatMap((g) => g['rules']).filter((r: Obj) => r['alert']);
    expect(alerts.map((a: Obj) => a['alert'])).toEqual(expect.arrayContaining(['AggregatorDown', 'ConsumerLagGrowing', 'EventToVisibleLatencyHigh']));
  });
});
