/**
 * The pipeline's rules as a Prometheus Operator PrometheusRule for Kubernetes
 * (infra/k8s/components/monitoring/prometheusrule.yaml), generated from
 * infra/prometheus/rules so the rules are written once.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import { loadRuleFile, ruleFiles } from './rules';

export const PROMETHEUS_RULE_FILE = 'infra/k8s/components/monitoring/prometheusrule.yaml';

export function renderPrometheusRule(files: string[] = ruleFiles()): string {
  const groups = files.flatMap((f) => loadRuleFile(f).groups);
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'stream-analytics', labels: { 'app.kubernetes.io/part-of': 'stream-analytics' } },
    spec: { groups },
  };
  const sources = files.map((f) => path.relative(path.resolve(__dirname, '../../../..'), f)).join(', ');
  return `# GENERATED from ${sources} by \`npx nx run monitoring:generate\`; edit the rules there.\n${stringify(resource, { lineWidth: 0 })}`;
}
