/**
 * Renders the kustomize overlays the way `kubectl apply -k` would (kubectl's
 * built-in kustomize, or a standalone kustomize) and validates manifests
 * against the Kubernetes schemas (validate-k8s.mjs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import YAML from 'yaml';

export type Manifest = { apiVersion: string; kind: string; metadata: { name?: string; generateName?: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

function has(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** The kustomize build command available here. */
export function kustomizeCommand(): string[] {
  if (process.env['KUSTOMIZE_BIN']) return [process.env['KUSTOMIZE_BIN'], 'build'];
  if (has('kubectl', ['kustomize', '--help'])) return ['kubectl', 'kustomize'];
  if (has('kustomize', ['version'])) return ['kustomize', 'build'];
  throw new Error(
    'Neither kubectl (with its built-in kustomize) nor kustomize is installed, so the overlays cannot be rendered. ' +
      'Install kubectl (GitHub runners have it; Debian: the kubernetes-client or google-cloud-cli kubectl package) or kustomize, or set KUSTOMIZE_BIN.',
  );
}

export function kustomizeBuild(dir: string): Manifest[] {
  const [cmd, ...args] = kustomizeCommand();
  const out = execFileSync(cmd, [...args, dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseYamlDocuments(out) as Manifest[];
}

export function parseYamlDocuments(text: string): unknown[] {
  return YAML.parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`YAML error: ${d.errors[0].message}`);
      return d.toJSON();
    })
    .filter((d) => d !== null && d !== undefined);
}

export interface ValidationResult {
  kind: string;
  apiVersion: string;
  name: string;
  ok: boolean;
  error?: string;
}

export function validateManifests(manifests: unknown[]): ValidationResult[] {
  const res = spawnSync(process.execPath, [path.join(__dirname, 'validate-k8s.mjs')], { input: JSON.stringify(manifests), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`validate-k8s.mjs failed (exit ${res.status}): ${res.stderr}`);
  return JSON.parse(res.stdout) as ValidationResult[];
}
