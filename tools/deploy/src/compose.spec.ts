/**
 * infra/docker-compose.yml against the Compose Specification JSON schema
 * (the one the docker-compose npm package ships), and the wiring the local
 * stack depends on: ports, mounts that exist, credentials that match.
 */
import Ajv from 'ajv';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

const root = path.resolve(__dirname, '../../..');
const composeFile = path.join(root, 'infra/docker-compose.yml');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const compose = YAML.parse(fs.readFileSync(composeFile, 'utf8'), { merge: true }) as Obj;
const services = compose['services'] as Record<string, Obj>;

function composeSchema(): object {
  const pkg = require.resolve('docker-compose/package.json');
  const schema = JSON.parse(fs.readFileSync(path.join(path.dirname(pkg), 'schema/compose-spec.json'), 'utf8')) as Obj;
  // A draft-07 schema whose $schema URL Ajv does not recognise spelled this way.
  expect(schema['$schema']).toMatch(/draft-07/);
  delete schema['$schema'];
  return schema;
}

/** Resolves a bind-mount source relative to the compose file's folder. */
const hostPath = (volume: string) => path.resolve(path.dirname(composeFile), volume.split(':')[0]);

function expectValidCompose(file: Obj): void {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const validate = ajv.compile(composeSchema());
  const ok = validate(file);
  expect(ajv.errorsText(validate.errors, { separator: '\n' })).toBe('No errors');
  expect(ok).toBe(true);
}

describe('docker-compose.yml', () => {
  it('validates against the Compose Specification schema', () => expectValidCompose(compose));

  it('the schema check is real (a broken file fails it)', () => {
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    const validate = ajv.compile(composeSchema());
    expect(validate({ services: { x: { image: 'a', ports: [{ nope: true }], restart: 3 } } })).toBe(false);
  });

  const ports = (s: string) => (services[s]['ports'] ?? []) as string[];

  it('has Redpanda, Redpanda Console, ClickHouse, Grafana, Mosquitto, the apps, and their monitoring', () => {
    expect(Object.keys(services).sort()).toEqual([
      'aggregator',
      'alertmanager',
      'clickhouse',
      'clickhouse-migrate',
      'console',
      'dlq-replayer',
      'grafana',
      'ingest-gateway',
      'kafka-exporter',
      'mosquitto',
      'producer',
      'prometheus',
      'redpanda',
      'topics',
    ]);
    expect(ports('prometheus')).toContain('9090:9090');
    expect(ports('alertmanager')).toContain('9093:9093');
    expect(ports('console')).toContain('8080:8080');
    expect(ports('clickhouse')).toContain('8123:8123');
    expect(ports('grafana')).toContain('6363:3000');
    expect(ports('redpanda')).toContain('9092:9092');
    expect(ports('mosquitto')).toContain('1883:1883');
    expect(ports('ingest-gateway')).toEqual(['8088:8088', '9467:9467']);
    expect(services['grafana']['environment']).toMatchObject({ GF_SECURITY_ADMIN_USER: 'admin', GF_SECURITY_ADMIN_PASSWORD: 'admin', GF_INSTALL_PLUGINS: 'grafana-clickhouse-datasource' });
  });

  it('Prometheus scrapes every app on the port it publishes, ClickHouse\'s endpoint and broker-side lag, with the repo\'s rules', () => {
    const config = YAML.parse(fs.readFileSync(path.join(path.dirname(composeFile), 'prometheus/prometheus.compose.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = Object.fromEntries(config.scrape_configs.map((c) => [c.job_name, c.static_configs[0].targets[0]]));
    for (const app of ['producer', 'aggregator', 'ingest-gateway']) {
      const port = targets[app].split(':')[1];
      expect({ app, published: ports(app).some((p) => p.endsWith(`:${port}`)) }).toEqual({ app, published: true });
    }
    expect(targets).toMatchObject({ clickhouse: 'clickhouse:9363', 'kafka-exporter': 'kafka-exporter:9308' });
    expect(services['prometheus']['volumes']).toContain('./prometheus/rules:/etc/prometheus/rules:ro');
    expect(config.rule_files).toEqual(['/etc/prometheus/rules/*.yml']);
    expect(services['clickhouse']['volumes']).toContain('../clickhouse/config.d/prometheus.xml:/etc/clickhouse-server/config.d/prometheus.xml:ro');
  });

  it('every bind mount and Dockerfile it names exists', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of (s['volumes'] ?? []) as string[]) if (v.startsWith('.')) expect({ name, v, exists: fs.existsSync(hostPath(v)) }).toEqual({ name, v, exists: true });
      if (s['build']) expect(fs.existsSync(path.resolve(path.dirname(composeFile), s['build'].context, s['build'].dockerfile))).toBe(true);
    }
    const mounts = (s: string) => (services[s]['volumes'] as string[]).map((v) => v.split(':').slice(0, 2).join(':'));
    expect(mounts('grafana')).toEqual(['../grafana/provisioning:/etc/grafana/provisioning', '../grafana/dashboards:/var/lib/grafana/dashboards']);
  });

  it('applies the schema with the migration runner only: a one-shot aggregator --migrate-only that the schema\'s users wait for', () => {
    // No initdb folder: ClickHouse would run the files verbatim on a fresh volume, unrecorded.
    for (const [name, s] of Object.entries(services)) {
      expect({ name, mounts: ((s['volumes'] ?? []) as string[]).filter((v) => /clickhouse\/init|initdb/.test(v)) }).toEqual({ name, mounts: [] });
    }
    const migrate = services['clickhouse-migrate'];
    expect(migrate['image']).toBe(services['aggregator']['image']);
    expect(migrate['build']).toEqual(services['aggregator']['build']);
    expect(migrate['command']).toEqual(['--migrate-only']);
    expect(migrate['restart']).toBe('no');
    expect(migrate['depends_on']).toEqual({ clickhouse: { condition: 'service_healthy' } });
    for (const key of ['CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_DATABASE']) expect(migrate['environment'][key]).toBe(services['aggregator']['environment'][key]);
    for (const user of ['aggregator', 'grafana']) expect(services[user]['depends_on']['clickhouse-migrate']).toEqual({ condition: 'service_completed_successfully' });
    expect(services['aggregator']['environment']['CLICKHOUSE_MIGRATE']).toBe('false');
  });

  it('the apps get the shared environment names and matching ClickHouse credentials', () => {
    const ch = services['clickhouse']['environment'] as Obj;
    const agg = services['aggregator']['environment'] as Obj;
    const graf = services['grafana']['environment'] as Obj;
    for (const key of ['KAFKA_BROKERS', 'RAW_TOPIC', 'AGG_TOPIC', 'DLQ_TOPIC', 'CONSUMER_GROUP', 'CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_DATABASE', 'METRICS_PORT']) {
      expect(agg[key]).toBeDefined();
    }
    expect(agg['CLICKHOUSE_USER']).toBe('aggregator');
    expect(agg['CLICKHOUSE_PASSWORD']).toBe(ch['CLICKHOUSE_AGGREGATOR_PASSWORD']);
    expect(graf['CLICKHOUSE_USER']).toBe('grafana');
    expect(graf['CLICKHOUSE_PASSWORD']).toBe(ch['CLICKHOUSE_GRAFANA_PASSWORD']);
    expect(services['producer']['environment']['KAFKA_BROKERS']).toBe('redpanda:29092');
    expect(services['producer']['environment']['METRICS_PORT']).toBe('9464');
    expect(services['producer']['command']).toEqual(['--rate', '10000', '--devices', '2000']);
  });

  it('connects the ingest gateway to Mosquitto, Kafka and a tokens file, and keeps Mosquitto from dropping queued messages', () => {
    const gw = services['ingest-gateway'] as Obj;
    expect(gw['environment']).toMatchObject({ KAFKA_BROKERS: 'redpanda:29092', MQTT_URL: 'mqtt://mosquitto:1883', MQTT_TOPIC: 'devices/+/telemetry', METRICS_PORT: '9467', INGEST_HTTP_PORT: '8088' });
    const [tokensMount] = gw['volumes'] as string[];
    expect(tokensMount.split(':')[1]).toBe(gw['environment']['INGEST_TOKENS_FILE']);
    expect(fs.readFileSync(hostPath(tokensMount), 'utf8')).toMatch(/^\S{16,} \S+/m);
    expect(gw['depends_on']).toMatchObject({ mosquitto: { condition: 'service_healthy' } });
    const [confMount] = services['mosquitto']['volumes'] as string[];
    expect(fs.readFileSync(hostPath(confMount), 'utf8')).toMatch(/^max_queued_messages 1000000$/m);
  });

  it('provisions the topics with the tool before the apps start', () => {
    expect(services['topics']['build']).toMatchObject({ dockerfile: 'infra/docker/Dockerfile', args: { APP: 'topics', APP_DIR: 'tools/topics' } });
    expect(services['topics']['command']).toEqual(['--profile', 'dev']);
    for (const app of ['aggregator', 'ingest-gateway', 'producer']) expect(services[app]['depends_on']['topics']).toEqual({ condition: 'service_completed_successfully' });
    for (const [, s] of Object.entries(services)) for (const dep of Object.keys(s['depends_on'] ?? {})) expect(services[dep]).toBeDefined();
  });
});

describe('docker-compose.secured.yml (the secured profile)', () => {
  const secured = YAML.parse(fs.readFileSync(path.join(root, 'infra/docker-compose.secured.yml'), 'utf8'), { merge: true }) as Obj;

  it('validates against the Compose Specification schema', () => expectValidCompose(secured));

  const securedServices = secured['services'] as Record<string, Obj>;

  it('runs each app as its own user over SASL_SSL, passwords and CA as mounted files only', () => {
    const users: Record<string, string> = { 'topics-secured': 'admin', 'aggregator-secured': 'aggregator', 'producer-secured': 'producer' };
    expect(Object.keys(securedServices).sort()).toEqual(['aggregator-secured', 'clickhouse-migrate-secured', 'producer-secured', 'topics-secured']);
    for (const [name, s] of Object.entries(securedServices)) {
      expect(s['profiles']).toEqual(['secured']);
      const env = s['environment'] as Record<string, string>;
      expect(Object.keys(env).filter((k) => /PASSWORD$/.test(k))).toEqual([]);
      const mounted = (s['secrets'] as Array<string | Obj>).map((x) => (typeof x === 'string' ? x : x['target']));
      for (const file of Object.values(env).filter((v) => String(v).startsWith('/run/secrets/'))) expect(mounted).toContain(String(file).slice('/run/secrets/'.length));
      if (name === 'clickhouse-migrate-secured') continue; // no Kafka
      expect(env).toMatchObject({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME: users[name], KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka-password' });
      const source = (s['secrets'] as Array<string | Obj>).find((x) => typeof x !== 'string' && x['target'] === 'kafka-password') as Obj;
      expect(source['source']).toBe(`kafka-${users[name]}`);
    }
  });

  it('applies the schema with the migration runner, as the aggregator user over https, before the aggregator starts', () => {
    const migrate = securedServices['clickhouse-migrate-secured'];
    const aggregator = securedServices['aggregator-secured'];
    expect(migrate['image']).toBe(aggregator['image']);
    expect(migrate['command']).toEqual(['--migrate-only']);
    for (const key of ['CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD_FILE', 'CLICKHOUSE_CA_CERT', 'CLICKHOUSE_DATABASE']) expect(migrate['environment'][key]).toBe(aggregator['environment'][key]);
    expect(migrate['secrets']).toEqual(expect.arrayContaining([{ source: 'clickhouse-aggregator', target: 'clickhouse-password' }, 'ca.pem']));
    expect(aggregator['depends_on']['clickhouse-migrate-secured']).toEqual({ condition: 'service_completed_successfully' });
    expect(aggregator['environment']['CLICKHOUSE_MIGRATE']).toBe('false');
  });
});
