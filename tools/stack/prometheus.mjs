// Prometheus and Alertmanager from Debian's packages (`prometheus` 2.42, `prometheus-alertmanager`
// 0.25), run as user processes with their config and data under the state dir. Prometheus
// scrapes the apps `npm start` runs (cfg.apps), the broker's JMX exporter agent, the stack
// exporter (exporter.mjs) and itself, loads infra/prometheus/rules, and sends alerts to
// Alertmanager, whose routing is infra/prometheus/alertmanager.yml.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { StackError, say, shortPath } from './log.mjs';
import { findOnPath } from './process.mjs';
import { httpRequest } from './readiness.mjs';

const require = createRequire(import.meta.url);

function findBinary(configured, names, pkg, envName) {
  if (configured) {
    if (!existsSync(configured)) throw new StackError(`${envName} points at ${configured}, which does not exist.`);
    return configured;
  }
  for (const name of names) {
    const found = findOnPath(name, ['/usr/bin', '/usr/sbin']);
    if (found) return found;
  }
  throw new StackError(`${names[0]} was not found on PATH; install it (Debian: apt-get install -y ${pkg}, or run bash tools/run/bootstrap.sh) and run again.`);
}

/** Both answer GET /-/ready with 200 once they serve. */
async function readyEndpoint(host, port, timeoutMs) {
  const res = await httpRequest(`http://${host}:${port}/-/ready`, { timeoutMs });
  if (res.status !== 200) throw new Error(`/-/ready answered ${res.status}`);
  return true;
}

/** What Prometheus scrapes: one job per app, the broker, the stack exporter, and the two servers. */
export function scrapeTargets(cfg) {
  const at = (port) => [`${cfg.host}:${port}`];
  return [
    ...cfg.apps.map((app) => ({ job: app.name, targets: at(app.metricsPort) })),
    { job: 'kafka', targets: at(cfg.ports.kafkaJmxExporter) },
    { job: 'stack-exporter', targets: at(cfg.ports.exporter) },
    { job: 'prometheus', targets: at(cfg.ports.prometheus) },
    { job: 'alertmanager', targets: at(cfg.ports.alertmanager) },
  ];
}

/** prometheus.yml, written as JSON (YAML's subset), so the stack needs no YAML library for it. */
export function prometheusConfig(cfg) {
  const p = cfg.prometheus;
  return {
    global: { scrape_interval: p.scrapeInterval, evaluation_interval: '15s', external_labels: { stack: 'local' } },
    rule_files: [join(p.rulesDir, '*.yml')],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [`${cfg.host}:${cfg.ports.alertmanager}`] }] }] },
    scrape_configs: scrapeTargets(cfg).map(({ job, targets }) => ({ job_name: job, static_configs: [{ targets }] })),
  };
}

function writePrometheusConfig(cfg) {
  writeFileSync(cfg.prometheus.config, `${JSON.stringify(prometheusConfig(cfg), null, 2)}\n`);
}

/**
 * For `up` and `provision` on running servers: rewrites both configurations and has the servers
 * reload them (POST /-/reload), so edited rules, routing or app ports apply without a restart.
 * A configuration the server refuses is reported with its reason; the old one stays in force.
 */
export async function reloadMonitoring(cfg, only) {
  const reloads = [];
  if (only.includes('prometheus')) {
    writePrometheusConfig(cfg);
    reloads.push({ name: 'prometheus', port: cfg.ports.prometheus, what: `configuration and ${shortPath(cfg.prometheus.rulesDir)}` });
  }
  if (only.includes('alertmanager')) {
    writeFileSync(cfg.alertmanager.config, alertmanagerConfig(cfg));
    reloads.push({ name: 'alertmanager', port: cfg.ports.alertmanager, what: shortPath(cfg.alertmanager.template) });
  }
  for (const r of reloads) {
    const res = await httpRequest(`http://${cfg.host}:${r.port}/-/reload`, { method: 'POST', timeoutMs: 10_000 }).catch((err) => ({ status: 0, body: err.message }));
    if (res.status !== 200) throw new StackError(`${r.name} did not reload its ${r.what} (${res.status || 'no answer'}): ${res.body.trim().slice(0, 300)}`);
    say(`${r.name}: reloaded ${r.what}`);
  }
}

export function prometheusServer(cfg) {
  const p = cfg.prometheus;
  let binary = null;
  return {
    name: 'prometheus',
    title: 'Prometheus',
    pidFile: p.pidFile,
    logFile: p.logFile,
    marker: p.config,
    endpoint: `http://${cfg.host}:${cfg.ports.prometheus}`,
    ports: [{ port: cfg.ports.prometheus, envName: 'PROMETHEUS_PORT' }],
    async prepare() {
      binary = findBinary(p.bin, ['prometheus'], 'prometheus', 'PROMETHEUS_BIN');
      mkdirSync(p.dataDir, { recursive: true });
      writePrometheusConfig(cfg);
    },
    command() {
      return {
        cmd: binary,
        args: [
          `--config.file=${p.config}`,
          `--storage.tsdb.path=${p.dataDir}`,
          '--storage.tsdb.retention.time=7d',
          `--web.listen-address=${cfg.host}:${cfg.ports.prometheus}`,
          // Lets `up` reload a changed config or rule file without a restart (POST /-/reload).
          '--web.enable-lifecycle',
        ],
        cwd: p.dir,
        stdoutLog: p.logFile,
      };
    },
    probe: (timeoutMs) => readyEndpoint(cfg.host, cfg.ports.prometheus, timeoutMs),
  };
}

/** infra/prometheus/alertmanager.yml, plus a webhook on the default receiver when one is asked for. */
export function alertmanagerConfig(cfg) {
  const a = cfg.alertmanager;
  const text = readFileSync(a.template, 'utf8');
  if (!a.webhookUrl) return text;
  let YAML;
  try {
    YAML = require('yaml');
  } catch (err) {
    throw new StackError(`ALERTMANAGER_WEBHOOK_URL needs the yaml package (${err.code ?? err.message}); run bash tools/run/bootstrap.sh first.`);
  }
  const doc = YAML.parse(text);
  const receiver = doc.receivers.find((r) => r.name === doc.route.receiver);
  receiver.webhook_configs = [...(receiver.webhook_configs ?? []), { url: a.webhookUrl, send_resolved: true }];
  return YAML.stringify(doc);
}

export function alertmanagerServer(cfg) {
  const a = cfg.alertmanager;
  let binary = null;
  return {
    name: 'alertmanager',
    title: 'Alertmanager',
    pidFile: a.pidFile,
    logFile: a.logFile,
    marker: a.config,
    endpoint: `http://${cfg.host}:${cfg.ports.alertmanager}`,
    ports: [{ port: cfg.ports.alertmanager, envName: 'ALERTMANAGER_PORT' }],
    async prepare() {
      binary = findBinary(a.bin, ['prometheus-alertmanager', 'alertmanager'], 'prometheus-alertmanager', 'ALERTMANAGER_BIN');
      mkdirSync(a.dataDir, { recursive: true });
      writeFileSync(a.config, alertmanagerConfig(cfg));
    },
    command() {
      return {
        cmd: binary,
        args: [
          `--config.file=${a.config}`,
          `--storage.path=${a.dataDir}`,
          `--web.listen-address=${cfg.host}:${cfg.ports.alertmanager}`,
          // One instance, no gossip: its default cluster port (9094) is the secured broker's.
          '--cluster.listen-address=',
        ],
        cwd: a.dir,
        stdoutLog: a.logFile,
      };
    },
    probe: (timeoutMs) => readyEndpoint(cfg.host, cfg.ports.alertmanager, timeoutMs),
  };
}
