/**
 * A private Prometheus for tests: Debian's binary on a free port, its data in a
 * temporary folder, scraping the targets the test names and loading the
 * repo's rules, so tests never depend on (or disturb) the stack's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from '@stream-analytics/testing';
import { parseRuleFile, ruleFiles, type RuleFile } from '../lib/rules';

/** The raw topic the rules name (infra/prometheus/rules). */
export const RULES_RAW_TOPIC = 'iot.telemetry.raw.v1';

export interface ScrapeTarget {
  job: string;
  /** host:port */
  target: string;
  /** Default /metrics. */
  metricsPath?: string;
}

export interface TestPrometheus {
  url: string;
  query(expr: string): Promise<PromSeries[]>;
  stop(): Promise<void>;
}

/**
 * Faster timing for the repo's rules in an end-to-end test: every group evaluated at
 * evaluationInterval instead of its own interval, and every alert pending at most maxFor instead of
 * its `for:`. Expressions, thresholds, range windows, labels and annotations stay the repo's. What
 * the `for:` values themselves do is the promtool rule tests' job (infra/prometheus/tests, run by
 * rules.spec.ts against the real files); an end-to-end test proves the wiring (real metrics, real
 * expressions, Prometheus to Alertmanager to a receiver), which does not need minutes of pending.
 */
export interface RuleTiming {
  evaluationInterval: string;
  maxFor: string;
}

/** Durations as the rules write them: whole seconds or minutes. */
export function durationSecs(d: string): number {
  const m = /^(\d+)(s|m)$/.exec(d);
  if (!m) throw new Error(`unexpected duration '${d}'`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

/**
 * The repo's rule files as a test's Prometheus loads them: their raw-topic name replaced by
 * rawTopic (a test's pipeline runs on a topic of its own, as a deployment may with RAW_TOPIC), and
 * with timing, the faster timing above.
 */
export function testRuleFiles(opts: { rawTopic?: string; timing?: RuleTiming } = {}): RuleFile[] {
  const { rawTopic, timing } = opts;
  return ruleFiles().map((file) => {
    const text = readFileSync(file, 'utf8');
    const { groups } = parseRuleFile(file, rawTopic ? text.split(RULES_RAW_TOPIC).join(rawTopic) : text);
    if (!timing) return { file, groups };
    const maxFor = durationSecs(timing.maxFor);
    return {
      file,
      groups: groups.map((g) => ({
        ...g,
        interval: timing.evaluationInterval,
        rules: g.rules.map((r) => (r.for && durationSecs(r.for) > maxFor ? { ...r, for: timing.maxFor } : r)),
      })),
    };
  });
}

export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * rawTopic: the repo's rules with their raw-topic name replaced (a test's
 * pipeline runs on a topic of its own, as a deployment may with RAW_TOPIC).
 */
export async function startPrometheus(opts: { targets: ScrapeTarget[]; scrapeInterval?: string; alertmanager?: string; rawTopic?: string; ruleTiming?: RuleTiming }): Promise<TestPrometheus> {
  const dir = mkdtempSync(path.join(tmpdir(), 'test-prometheus-'));
  const port = await freePort();
  const rulesDir = path.join(dir, 'rules');
  mkdirSync(rulesDir);
  for (const rules of testRuleFiles({ rawTopic: opts.rawTopic, timing: opts.ruleTiming })) {
    writeFileSync(path.join(rulesDir, path.basename(rules.file)), stringify({ groups: rules.groups }));
  }
  const config = {
    global: { scrape_interval: opts.scrapeInterval ?? '2s', evaluation_interval: '2s' },
    rule_files: [path.join(rulesDir, '*.yml')],
    ...(opts.alertmanager ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [opts.alertmanager] }] }] } } : {}),
    scrape_configs: opts.targets.map((t) => ({ job_name: t.job, metrics_path: t.metricsPath ?? '/metrics', static_configs: [{ targets: [t.target] }] })),
  };
  writeFileSync(path.join(dir, 'prometheus.yml'), JSON.stringify(config));
  let log = '';
  const child: ChildProcess = spawn(
    process.env['PROMETHEUS_BIN'] ?? 'prometheus',
    [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('Prometheus ready', async () => (await fetch(`${url}/-/ready`).catch(() => null))?.status === 200, 30_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${log.slice(-2000)}`);
  }
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSeries[] } };
      if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error}`);
      return body.data?.result ?? [];
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
