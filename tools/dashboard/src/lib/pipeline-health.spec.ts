/**
 * The pipeline-health dashboard as Grafana would load it: generated from
 * pipeline-health.ts and up to date, every query on the provisioned
 * Prometheus data source, 5 s refresh, a sane grid. (Its queries run against
 * a real Prometheus in tools/monitoring.)
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { PIPELINE_HEALTH_FILE, PIPELINE_HEALTH_PANELS, PROMETHEUS_DATASOURCE, RAW_TOPIC_VARIABLE, expandPromQL, renderPipelineHealthDashboard } from './pipeline-health';

const root = path.resolve(__dirname, '../../../..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

interface Panel {
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { uid: string; type: string };
  targets: Array<{ expr: string; datasource: { uid: string } }>;
}
const dashboard = JSON.parse(read(PIPELINE_HEALTH_FILE)) as { refresh: string; panels: Panel[] };

describe('pipeline-health dashboard', () => {
  it('is what pipeline-health.ts generates (run `npx nx run dashboard:generate` after editing it)', () => {
    expect(read(PIPELINE_HEALTH_FILE)).toBe(renderPipelineHealthDashboard());
  });

  it('queries the provisioned Prometheus data source on every panel and refreshes every 5 s', () => {
    const provisioned = (YAML.parse(read('grafana/provisioning/datasources/prometheus.yaml')) as { datasources: Array<{ uid: string; type: string; url: string }> }).datasources[0];
    expect(provisioned).toMatchObject({ uid: PROMETHEUS_DATASOURCE.uid, type: 'prometheus', url: '${PROMETHEUS_URL}' });
    expect(dashboard.refresh).toBe('5s');
    for (const p of dashboard.panels) {
      expect(p.datasource.uid).toBe(provisioned.uid);
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.datasource.uid).toBe(provisioned.uid);
    }
  });

  it('has a non-overlapping 24-column layout', () => {
    const cells = new Set<string>();
    for (const { gridPos: g } of dashboard.panels) {
      expect(g.x + g.w).toBeLessThanOrEqual(24);
      for (let i = g.x; i < g.x + g.w; i++)
        for (let j = g.y; j < g.y + g.h; j++) {
          expect(cells.has(`${i},${j}`)).toBe(false);
          cells.add(`${i},${j}`);
        }
    }
  });

  it('expands the rate window and the raw-topic variable, leaving no Grafana variable behind', () => {
    for (const t of PIPELINE_HEALTH_PANELS.flatMap((p) => p.targets)) {
      expect(expandPromQL(t.expr, { rateInterval: '1m', rawTopic: RAW_TOPIC_VARIABLE.default })).not.toContain('$');
    }
  });
});
