/**
 * The Prometheus and Alertmanager configuration the local stack writes
 * (tools/stack/prometheus.mjs) pass promtool's and amtool's checks, and
 * Prometheus scrapes every app under the job name the rules use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { amtool, promtool } from './lib/promtool';
import { alertRules, loadRuleFile, ruleFiles } from './lib/rules';

const stackDir = path.resolve(__dirname, '../../stack');

/** What the stack would write for this environment, computed by the stack's own modules. */
function stackConfigs(env: Record<string, string>): { prometheus: { scrape_configs: Array<{ job_name: string }>; rule_files: string[] }; alertmanager: string; apps: string[] } {
  const script = `
    import { loadConfig } from '${stackDir}/config.mjs';
    import { alertmanagerConfig, prometheusConfig } from '${stackDir}/prometheus.mjs';
    const cfg = loadConfig(${JSON.stringify(env)});
    process.stdout.write(JSON.stringify({ prometheus: prometheusConfig(cfg), alertmanager: alertmanagerConfig(cfg), apps: cfg.apps.map((a) => a.name) }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

describe('the local stack\u2019s monitoring configuration', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'stack-monitoring-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('Prometheus: passes promtool check config (rules included) and scrapes every app under its own job', async () => {
    const { prometheus, apps } = stackConfigs({});
    const file = path.join(dir, 'prometheus.yml');
    writeFileSync(file, JSON.stringify(prometheus));
    expect(await promtool(['check', 'config', file])).toMatch(/SUCCESS/);
    const jobs = prometheus.scrape_configs.map((c) => c.job_name);
    expect(jobs).toEqual(expect.arrayContaining([...apps, 'kafka', 'stack-exporter']));
    // The rules' job selectors name jobs that exist.
    const named = new Set(alertRules(ruleFiles().map((f) => loadRuleFile(f))).flatMap((r) => [...r.expr.matchAll(/job="([^"]+)"/g)].map((m) => m[1])));
    for (const job of named) expect(jobs).toContain(job);
  });

  it('Alertmanager: passes amtool check-config, with and without the test webhook', async () => {
    for (const [name, env] of [
      ['plain', {}],
      ['webhook', { ALERTMANAGER_WEBHOOK_URL: 'http://127.0.0.1:1/hook' }],
    ] as const) {
      const { alertmanager } = stackConfigs(env);
      const file = path.join(dir, `alertmanager-${name}.yml`);
      writeFileSync(file, alertmanager);
      expect(await amtool(['check-config', file])).toMatch(/SUCCESS/);
      if (name === 'webhook') expect(alertmanager).toContain('http://127.0.0.1:1/hook');
    }
  });
});
