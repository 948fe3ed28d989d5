/** The Kubernetes PrometheusRule is the rules file, regenerated (never edited by hand). */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { PROMETHEUS_RULE_FILE, renderPrometheusRule } from './lib/prometheus-rule';
import { loadRuleFile, ruleFiles } from './lib/rules';

const target = path.resolve(__dirname, '../../..', PROMETHEUS_RULE_FILE);

describe('PrometheusRule for Kubernetes', () => {
  it('is what the rules generate (run `npx nx run monitoring:generate` after editing infra/prometheus/rules)', () => {
    expect(fs.readFileSync(target, 'utf8')).toBe(renderPrometheusRule());
  });

  it('holds exactly the groups of the rule files', () => {
    const rule = parse(fs.readFileSync(target, 'utf8')) as { spec: { groups: unknown[] } };
    expect(rule.spec.groups).toEqual(ruleFiles().flatMap((f) => loadRuleFile(f).groups));
  });
});
