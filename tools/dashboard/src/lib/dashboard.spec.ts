/**
 * The dashboard and provisioning files as Grafana would load them: generated
 * from panels.ts and up to date, datasource references that resolve to the
 * provisioned data source, 5 s refresh, a query on every panel, and only
 * macros the ClickHouse plugin knows.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { DASHBOARD_FILE, QUERIES_FILE, buildDashboard, parseQueriesDoc, renderDashboard, renderQueriesDoc } from './dashboard';
import { MACROS, expandMacros, grafanaIntervalMs, intervalToMs, macrosIn, roundIntervalMs } from './macros';
import { DATASOURCE, MAX_DATA_POINTS, PANELS, RECENT_MINUTES, expandPanelSql } from './panels';

const root = path.resolve(__dirname, '../../../..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

interface Target {
  refId: string;
  datasource?: { type: string; uid: string };
  rawSql?: string;
  editorType?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  gridPos: { x: number; y: number; w: number; h: number };
}

const dashboard = JSON.parse(read(DASHBOARD_FILE)) as { uid: string; refresh: string; panels: Panel[]; schemaVersion: number; time: unknown };

function provisionedDatasources(): Array<{ uid: string; type: string; name: string; jsonData: Record<string, unknown>; secureJsonData: Record<string, unknown> }> {
  const dir = path.join(root, 'grafana/provisioning/datasources');
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .flatMap((f) => (YAML.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { datasources: never[] }).datasources);
}

describe('generated files', () => {
  it('the dashboard JSON is what panels.ts generates (run `npx nx run dashboard:generate` after editing panels.ts)', () => {
    expect(read(DASHBOARD_FILE)).toBe(renderDashboard());
  });

  it('docs/dashboard_queries.sql is what panels.ts generates', () => {
    expect(read(QUERIES_FILE)).toBe(renderQueriesDoc());
  });

  it('the documented SQL and the dashboard SQL are the same, panel by panel', () => {
    const doc = parseQueriesDoc(read(QUERIES_FILE));
    expect([...doc.keys()]).toEqual(PANELS.map((p) => p.key));
    dashboard.panels.forEach((panel, i) => expect(panel.targets?.[0].rawSql).toBe(doc.get(PANELS[i].key)));
  });
});

describe('dashboard structure', () => {
  it('refreshes every 5 s and is a current Grafana schema', () => {
    expect(dashboard.refresh).toBe('5s');
    expect(dashboard.uid).toBe('iot-streaming-overview');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
  });

  it('every panel has a SQL query on the ClickHouse data source', () => {
    expect(dashboard.panels.length).toBe(PANELS.length);
    for (const p of dashboard.panels) {
      expect(p.targets?.length).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.editorType).toBe('sql');
        expect((t.rawSql ?? '').trim()).toMatch(/^SELECT\b/);
      }
    }
  });

  it('every datasource reference resolves to a provisioned data source of the same type', () => {
    const provisioned = provisionedDatasources();
    const byUid = new Map(provisioned.map((d) => [d.uid, d]));
    const refs = dashboard.panels.flatMap((p) => [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)]);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref).toBeDefined();
      const ds = byUid.get(ref!.uid);
      expect(ds).toBeDefined();
      expect(ds!.type).toBe(ref!.type);
    }
    expect(byUid.get(DATASOURCE.uid)?.type).toBe('grafana-clickhouse-datasource');
  });

  it('has the panels the issue asks for', () => {
    const titles = dashboard.panels.map((p) => p.title.toLowerCase());
    for (const want of ['events per minute', 'average metric', 'unique users', 'anomaly', 'freshness', 'late, future and invalid', 'current minute']) {
      expect(titles.some((t) => t.includes(want))).toBe(true);
    }
  });

  it('has unique panel ids and a non-overlapping 24-column layout', () => {
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`)).toBe(false);
          cells.add(`${i},${j}`);
        }
    }
  });

  it('uses only macros the ClickHouse plugin knows, and time series start with a time column', () => {
    for (const p of PANELS) {
      for (const m of macrosIn(p.sql)) expect(Object.keys(MACROS)).toContain(m);
      if (p.queryType === 'timeseries') expect(p.columns[0]).toBe('time');
    }
    expect(buildDashboard()).toEqual(dashboard);
  });
});

describe('provisioning', () => {
  it('the data source takes its connection and credentials from the environment', () => {
    const [ds] = provisionedDatasources();
    expect(ds.jsonData['host']).toBe('${CLICKHOUSE_HOST}');
    expect(ds.jsonData['username']).toBe('${CLICKHOUSE_USER}');
    expect(ds.secureJsonData['password']).toBe('${CLICKHOUSE_PASSWORD}');
    expect(ds.jsonData['defaultDatabase']).toBe('stream_analytics');
  });

  it('the dashboards provider reads the folder compose and Kubernetes mount the dashboards into', () => {
    const text = read('grafana/provisioning/dashboards/stream-analytics.yaml');
    const provider = (YAML.parse(text) as { providers: Array<{ type: string; options: { path: string } }> }).providers[0];
    expect(provider.type).toBe('file');
    expect(provider.options.path).toBe('/var/lib/grafana/dashboards');
  });

  it('the query timeout matches the reader profile max_execution_time', () => {
    const [ds] = provisionedDatasources();
    const users = read('clickhouse/users.d/stream-analytics.xml');
    const profile = /<stream_analytics_reader>([\s\S]*?)<\/stream_analytics_reader>/.exec(users)![1];
    expect(/<max_execution_time>(\d+)<\/max_execution_time>/.exec(profile)![1]).toBe(ds.jsonData['queryTimeout']);
    expect(profile).toMatch(/<readonly>1<\/readonly>/);
  });
});

describe('expandMacros', () => {
  const range = { fromMs: Date.UTC(2026, 0, 1, 10, 0, 0, 500), toMs: Date.UTC(2026, 0, 1, 11, 0, 0, 0), intervalMs: 30000 };
  const from = Date.UTC(2026, 0, 1, 10) / 1000;
  const to = Date.UTC(2026, 0, 1, 11) / 1000;

  it('expands the plugin macros as the plugin does', () => {
    expect(expandMacros('WHERE $__timeFilter(ts)', range)).toBe(`WHERE ts >= toDateTime(${from}) AND ts <= toDateTime(${to})`);
    expect(expandMacros('$__fromTime $__toTime', range)).toBe(`toDateTime(${from}) toDateTime(${to})`);
    expect(expandMacros('$__timeInterval(ts)', range)).toBe('toStartOfInterval(toDateTime(ts), INTERVAL 30 second)');
    expect(expandMacros('$__interval_s', range)).toBe('30');
    expect(expandMacros('$__dateFilter(d)', range)).toBe("d >= toDate('2026-01-01') AND d <= toDate('2026-01-01')");
    expect(expandMacros('$__timeFilter_ms(ts)', range)).toBe(`ts >= fromUnixTimestamp64Milli(${range.fromMs}) AND ts <= fromUnixTimestamp64Milli(${range.toMs})`);
  });

  it('rejects unknown macros and leftover variables', () => {
    expect(() => expandMacros('$__nope(x)', range)).toThrow(/unknown macro \$__nope/);
    expect(() => expandMacros('WHERE x = $device', range)).toThrow(/unexpanded template variable \$device/);
  });

  it('leaves no macro in any panel query', () => {
    for (const p of PANELS) expect(expandPanelSql(p, range)).not.toMatch(/\$/);
  });
});

describe("Grafana's interval", () => {
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  const at = (spanMs: number) => ({ fromMs: Date.UTC(2026, 10, 1), toMs: Date.UTC(2026, 10, 1) + spanMs });

  it('rounds range / max data points as Grafana does, and never goes below the minimum interval', () => {
    expect(roundIntervalMs(3600)).toBe(5000);
    expect(roundIntervalMs(86400)).toBe(60000);
    expect(roundIntervalMs(604800)).toBe(600000);
    expect(roundIntervalMs(2592000)).toBe(1800000);
    expect(roundIntervalMs(5e10)).toBe(31536000000);
    expect(intervalToMs('1m')).toBe(60000);
    expect(intervalToMs('2h')).toBe(7200000);
    expect(() => intervalToMs('1 minute')).toThrow(/invalid interval/);
    expect(grafanaIntervalMs(at(HOUR), 1000)).toBe(5000);
    expect(grafanaIntervalMs(at(HOUR), 1000, '1m')).toBe(60000);
    expect(grafanaIntervalMs(at(7 * DAY), 1000, '1m')).toBe(600000);
    expect(grafanaIntervalMs(at(30 * DAY), 1000, '1m')).toBe(1800000);
    expect(() => grafanaIntervalMs(at(HOUR), 0)).toThrow(/maxDataPoints/);
  });

  it.each([HOUR, 6 * HOUR, DAY, 7 * DAY, 30 * DAY, 90 * DAY])('a time series over %d ms has a bounded number of whole-minute buckets', (span) => {
    for (const p of PANELS.filter((q) => q.queryType === 'timeseries')) {
      const intervalMs = grafanaIntervalMs(at(span), p.maxDataPoints ?? MAX_DATA_POINTS, p.interval);
      expect(intervalMs % 60000).toBe(0);
      expect(span / intervalMs).toBeLessThanOrEqual(1.5 * MAX_DATA_POINTS);
      expect(expandPanelSql(p, at(span))).toContain(`intDiv(toUInt32(`);
      expect(expandPanelSql(p, at(span))).toContain(`, ${intervalMs / 1000}) * ${intervalMs / 1000}, 'UTC')`);
    }
  });

  it('time series bucket with $__interval_s (18.16 has no toStartOfInterval) at a 1-minute minimum; "now" panels read the recent windows only', () => {
    for (const p of PANELS) {
      expect(p.sql).not.toContain('$__timeInterval');
      if (p.queryType === 'timeseries') {
        expect(p.interval).toBe('1m');
        expect(p.sql).toContain('$__interval_s');
      } else {
        expect(p.sql).toContain(`window_start >= $__toTime - ${RECENT_MINUTES * 60}`);
      }
    }
  });
});
