/**
 * The alert rules pass promtool's checks, every alert says what it means and what to check first,
 * and every alert has promtool unit tests that make it fire and that keep it quiet.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { amtool, promtool } from './lib/promtool';
import { alertRules, loadRuleFile, PROMETHEUS_DIR, ruleFiles, RULE_TESTS_DIR, type RuleFile } from './lib/rules';

interface AlertCase {
  alertname: string;
  exp_alerts?: unknown[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: AlertCase[] }>;
}

const files: RuleFile[] = ruleFiles().map((f) => loadRuleFile(f));
const testFiles = readdirSync(RULE_TESTS_DIR)
  .filter((f) => f.endsWith('.test.yml'))
  .map((f) => path.join(RULE_TESTS_DIR, f));

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const out = await promtool(['check', 'rules', ...files.map((f) => f.file)]);
    expect(out).toMatch(/SUCCESS/);
  });

  it.each(alertRules(files).map((r) => [r.alert, r] as const))('%s has a severity, a summary and a runbook line', (_name, rule) => {
    expect(['critical', 'warning', 'info']).toContain(rule.labels?.['severity']);
    expect(rule.annotations?.['summary']?.length).toBeGreaterThan(10);
    // What it means and what to check first.
    expect(rule.annotations?.['runbook']).toMatch(/Check first/);
  });

  it('every alert has a case where it fires and one where it stays quiet', () => {
    const cases = testFiles.flatMap((f) => (parse(readFileSync(f, 'utf8')) as RuleTestFile).tests.flatMap((t) => t.alert_rule_test ?? []));
    const missing = alertRules(files).flatMap((r) => {
      const mine = cases.filter((c) => c.alertname === r.alert);
      return [
        ...(mine.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${r.alert}: no firing case`]),
        ...(mine.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : [`${r.alert}: no quiet case`]),
      ];
    });
    expect(missing).toEqual([]);
  });

  it('pass their promtool unit tests', async () => {
    // promtool compares annotations too; the cases say only when alerts fire and with which labels,
    // so promtool gets the rules without annotations (checked above) in the layout the tests name.
    const dir = mkdtempSync(path.join(tmpdir(), 'rule-tests-'));
    try {
      mkdirSync(path.join(dir, 'rules'));
      mkdirSync(path.join(dir, 'tests'));
      for (const f of files) {
        const groups = f.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...rule }) => rule) }));
        writeFileSync(path.join(dir, 'rules', path.basename(f.file)), stringify({ groups }));
      }
      const copies = testFiles.map((f) => {
        const copy = path.join(dir, 'tests', path.basename(f));
        writeFileSync(copy, readFileSync(f));
        return copy;
      });
      const out = await promtool(['test', 'rules', ...copies]);
      expect(out).toMatch(/SUCCESS/);
      expect(out).not.toMatch(/FAILED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Alertmanager configuration', () => {
  it('passes amtool check-config', async () => {
    expect(await amtool(['check-config', path.join(PROMETHEUS_DIR, 'alertmanager.yml')])).toMatch(/SUCCESS/);
  });
});
