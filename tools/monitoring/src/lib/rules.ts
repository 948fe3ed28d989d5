/**
 * The alert and recording rules in infra/prometheus/rules, read as data: for the tests, for the
 * Kubernetes PrometheusRule (tools/deploy) and for the dashboard's links to runbooks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const PROMETHEUS_DIR = path.resolve(__dirname, '../../../../infra/prometheus');
export const RULES_DIR = path.join(PROMETHEUS_DIR, 'rules');
export const RULE_TESTS_DIR = path.join(PROMETHEUS_DIR, 'tests');

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

export interface RuleFile {
  file: string;
  groups: RuleGroup[];
}

export function ruleFiles(dir = RULES_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(dir, f));
}

export function loadRuleFile(file: string): RuleFile {
  return parseRuleFile(file, readFileSync(file, 'utf8'));
}

/** A rule file's text (file names it in errors). */
export function parseRuleFile(file: string, text: string): RuleFile {
  const doc = parse(text) as { groups?: RuleGroup[] };
  if (!Array.isArray(doc?.groups)) throw new Error(`${file}: no 'groups' list; not a Prometheus rule file.`);
  return { file, groups: doc.groups };
}

export function alertRules(files: RuleFile[]): Rule[] {
  return files.flatMap((f) => f.groups.flatMap((g) => g.rules.filter((r) => r.alert)));
}
