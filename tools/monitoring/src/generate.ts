/**
 * Writes infra/k8s/components/monitoring/prometheusrule.yaml from
 * infra/prometheus/rules; --check only compares and exits 1 when it is out of date.
 *   npx nx run monitoring:generate [-- --check]
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROMETHEUS_RULE_FILE, renderPrometheusRule } from './lib/prometheus-rule';

const target = path.resolve(__dirname, '../../..', PROMETHEUS_RULE_FILE);
const content = renderPrometheusRule();
const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : undefined;
if (current === content) process.stdout.write(`up to date: ${PROMETHEUS_RULE_FILE}\n`);
else if (process.argv.includes('--check')) {
  process.stdout.write(`OUT OF DATE: ${PROMETHEUS_RULE_FILE} (run: npx nx run monitoring:generate)\n`);
  process.exitCode = 1;
} else {
  fs.writeFileSync(target, content);
  process.stdout.write(`wrote ${PROMETHEUS_RULE_FILE}\n`);
}
