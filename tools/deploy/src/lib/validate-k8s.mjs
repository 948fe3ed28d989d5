// Validates Kubernetes manifests against the Kubernetes OpenAPI schemas (the
// kubernetes-models packages: JSON-schema validators generated from the
// Kubernetes and KEDA OpenAPI/CRD schemas, the ones kubeconform also uses).
// ESM only, hence a separate script: reads a JSON array of manifests on stdin,
// prints a JSON array of { kind, name, ok, error } on stdout.
import { readFileSync } from 'node:fs';

/** apiVersion + kind -> the module that holds its model. */
function modulePath(apiVersion, kind) {
  if (apiVersion === 'keda.sh/v1alpha1') return `@kubernetes-models/keda/keda.sh/v1alpha1/${kind}`;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

const manifests = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const m of manifests) {
  const where = { kind: m?.kind, apiVersion: m?.apiVersion, name: m?.metadata?.name ?? m?.metadata?.generateName };
  try {
    if (!m?.apiVersion || !m?.kind) throw new Error('apiVersion and kind are required');
    let mod;
    try {
      mod = await import(modulePath(m.apiVersion, m.kind));
    } catch {
      throw new Error(`no schema for ${m.apiVersion} ${m.kind} (unknown kind or API version)`);
    }
    const Model = mod[m.kind];
    new Model(m).validate();
    results.push({ ...where, ok: true });
  } catch (err) {
    results.push({ ...where, ok: false, error: String(err?.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(results));
