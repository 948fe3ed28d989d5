/**
 * Builds the Grafana dashboard JSON and the SQL reference file from the
 * panel definitions (panels.ts).
 */
import { DEVICE_PANELS, DEVICE_VARIABLE, DEVICE_VARIABLE_SQL } from './device-panels';
import { DATASOURCE, PANELS, RECENT_MINUTES, type PanelDef } from './panels';

export const DASHBOARD_UID = 'iot-streaming-overview';
export const DASHBOARD_FILE = 'grafana/dashboards/iot-streaming-overview.json';
export const QUERIES_FILE = 'docs/dashboard_queries.sql';
export const DEVICES_DASHBOARD_UID = 'iot-devices';
export const DEVICES_DASHBOARD_FILE = 'grafana/dashboards/iot-devices.json';
export const DEVICE_QUERIES_FILE = 'docs/dashboard_device_queries.sql';

/** What tells one generated dashboard from the other. */
interface DashboardMeta {
  uid: string;
  title: string;
  description: string;
  file: string;
  templating: unknown[];
  links: unknown[];
}

const OVERVIEW: DashboardMeta = {
  uid: DASHBOARD_UID,
  title: 'IoT streaming overview',
  description: 'Telemetry -> Kafka -> aggregator (1-minute event-time windows) -> ClickHouse. Generated from tools/dashboard/src/lib/panels.ts.',
  file: DASHBOARD_FILE,
  templating: [],
  links: [{ title: 'Devices', type: 'link', icon: 'dashboard', url: `/d/${DEVICES_DASHBOARD_UID}`, keepTime: true, targetBlank: false, tooltip: 'Per-device minutes, status, completeness and silent devices' }],
};

const DEVICES: DashboardMeta = {
  uid: DEVICES_DASHBOARD_UID,
  title: 'IoT devices',
  description: 'One device (pick it with $device), the fleet by status, temperature and percentiles, the top devices and the silent ones. Generated from tools/dashboard/src/lib/device-panels.ts.',
  file: DEVICES_DASHBOARD_FILE,
  templating: [
    {
      name: DEVICE_VARIABLE,
      label: 'Device',
      type: 'query',
      datasource: { type: DATASOURCE.type, uid: DATASOURCE.uid },
      definition: DEVICE_VARIABLE_SQL,
      query: DEVICE_VARIABLE_SQL,
      refresh: 2,
      sort: 1,
      multi: false,
      includeAll: false,
      current: {},
      options: [],
      hide: 0,
    },
  ],
  links: [{ title: 'Overview', type: 'link', icon: 'dashboard', url: `/d/${DASHBOARD_UID}`, keepTime: true, targetBlank: false, tooltip: 'The fleet-wide overview' }],
};
export const REFRESH = '5s';

const datasourceRef = { type: DATASOURCE.type, uid: DATASOURCE.uid };

function fieldConfig(p: PanelDef): Record<string, unknown> {
  const defaults: Record<string, unknown> = {
    ...(p.unit ? { unit: p.unit } : {}),
    ...(p.decimals !== undefined ? { decimals: p.decimals } : {}),
    color: { mode: p.type === 'stat' ? 'thresholds' : 'palette-classic' },
    thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }] },
  };
  if (p.key === 'data_freshness') {
    // The query reads the recent windows only: no row means the newest window is older than that.
    defaults['noValue'] = `older than ${RECENT_MINUTES} min`;
    defaults['thresholds'] = {
      mode: 'absolute',
      steps: [
        { color: 'green', value: null },
        { color: 'orange', value: 90 },
        { color: 'red', value: 300 },
      ],
    };
  }
  if (p.type === 'timeseries') {
    defaults['custom'] = {
      drawStyle: p.drawStyle ?? 'line',
      lineWidth: 1,
      fillOpacity: p.drawStyle === 'bars' ? 80 : 10,
      showPoints: 'never',
      spanNulls: false,
      stacking: { mode: ['late_and_invalid_events', 'device_status', 'fleet_status'].includes(p.key) ? 'normal' : 'none', group: 'A' },
    };
  }
  const overrides: unknown[] = [];
  if (p.columns.includes('min_temperature')) {
    // The min-max band: the max line filled down to the min line, both thin.
    overrides.push({ matcher: { id: 'byName', options: 'max_temperature' }, properties: [{ id: 'custom.fillBelowTo', value: 'min_temperature' }, { id: 'custom.lineWidth', value: 0 }] });
    overrides.push({ matcher: { id: 'byName', options: 'min_temperature' }, properties: [{ id: 'custom.lineWidth', value: 0 }, { id: 'custom.fillOpacity', value: 0 }] });
  }
  if (p.key === 'current_minute') {
    overrides.push({ matcher: { id: 'byName', options: 'elapsed_s' }, properties: [{ id: 'unit', value: 's' }] });
    overrides.push({ matcher: { id: 'byName', options: 'avg_metric' }, properties: [{ id: 'decimals', value: 3 }] });
    overrides.push({
      matcher: { id: 'byName', options: 'is_final' },
      properties: [{ id: 'mappings', value: [{ type: 'value', options: { '0': { text: 'open' }, '1': { text: 'final' } } }] }],
    });
  }
  return { defaults, overrides };
}

function options(p: PanelDef): Record<string, unknown> {
  if (p.type === 'stat') {
    return {
      reduceOptions: { calcs: ['lastNotNull'], fields: '/^(?!window_start$).*/', values: false },
      orientation: 'auto',
      textMode: 'value_and_name',
      colorMode: p.key === 'data_freshness' ? 'background' : 'value',
      graphMode: 'none',
      justifyMode: 'auto',
    };
  }
  if (p.type === 'table') return { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } };
  return { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'none' } };
}

/** The fields every panel of the generated dashboards starts with, in Grafana's order. */
export function panelFrame(p: Pick<PanelDef, 'type' | 'title' | 'description' | 'gridPos'>, id: number, datasource: { type: string; uid: string }): Record<string, unknown> {
  return { id, type: p.type, title: p.title, description: p.description, gridPos: p.gridPos, datasource };
}

export function buildPanel(p: PanelDef, id: number): Record<string, unknown> {
  return {
    ...panelFrame(p, id, datasourceRef),
    ...(p.interval ? { interval: p.interval } : {}),
    ...(p.maxDataPoints ? { maxDataPoints: p.maxDataPoints } : {}),
    targets: [
      {
        refId: 'A',
        datasource: datasourceRef,
        editorType: 'sql',
        queryType: p.queryType,
        format: p.queryType === 'timeseries' ? 0 : 1,
        rawSql: p.sql,
      },
    ],
    fieldConfig: fieldConfig(p),
    options: options(p),
  };
}

/** What every generated dashboard shares: UTC, 5 s refresh, the last 30 minutes, in Grafana's order. */
export function dashboardFrame(meta: { uid: string; title: string; description: string; tags: string[] }, templating: unknown[] = []): Record<string, unknown> {
  return {
    ...meta,
    timezone: 'utc',
    editable: true,
    graphTooltip: 1,
    refresh: REFRESH,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-30m', to: 'now' },
    timepicker: { refresh_intervals: ['5s', '10s', '30s', '1m', '5m', '15m'] },
    templating: { list: templating },
  };
}

export function buildDashboard(panels: readonly PanelDef[] = PANELS, meta: DashboardMeta = OVERVIEW): Record<string, unknown> {
  return {
    ...dashboardFrame({ uid: meta.uid, title: meta.title, description: meta.description, tags: ['stream-analytics', 'iot'] }, meta.templating),
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    links: meta.links,
    panels: panels.map((p, i) => buildPanel(p, i + 1)),
  };
}

export function buildDevicesDashboard(): Record<string, unknown> {
  return buildDashboard(DEVICE_PANELS, DEVICES);
}

export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

export function renderDevicesDashboard(): string {
  return `${JSON.stringify(buildDevicesDashboard(), null, 2)}\n`;
}

export function renderDeviceQueriesDoc(): string {
  return renderQueriesDoc(DEVICE_PANELS, DEVICES, 'device-panels.ts', ['-- ${device} is the dashboard variable $device: one device id, quoted.']);
}

export function renderQueriesDoc(panels: readonly PanelDef[] = PANELS, meta: DashboardMeta = OVERVIEW, source = 'panels.ts', notes: readonly string[] = []): string {
  const out = [
    `-- SQL of every panel of the Grafana dashboard "${meta.title}"`,
    `-- (${meta.file}).`,
    '--',
    `-- GENERATED from tools/dashboard/src/lib/${source}, like the dashboard itself:`,
    `-- edit ${source}, then run \`npx nx run dashboard:generate\`. A test fails when`,
    '-- this file, the dashboard and panels.ts disagree.',
    '--',
    '-- $__timeFilter(col), $__fromTime, $__toTime and $__interval_s are Grafana ClickHouse',
    '-- plugin macros; Grafana expands them to',
    '--   col >= toDateTime(<from, epoch s>) AND col <= toDateTime(<to, epoch s>),',
    '--   toDateTime(<from, epoch s>), toDateTime(<to, epoch s>), and the panel interval in',
    '--   seconds (range / max data points rounded to a nice value, at least 60).',
    '-- To run a query by hand (clickhouse-client --multiquery), replace them, e.g. with',
    '--   window_start >= now() - INTERVAL 30 MINUTE AND window_start <= now(),',
    '--   now() - INTERVAL 30 MINUTE, now() and 60.',
    '--',
    '-- Every query runs on ClickHouse 18.16 and on current releases, and reads only',
    '-- the time range: the SETTINGS clause pushes the time filter into the',
    '-- iot_minute_agg view on 18.16 (the default on current releases; the read-only',
    '-- grafana user may pass it because its profile has the same value).',
    ...notes,
  ];
  panels.forEach((p, i) => {
    out.push('', `-- ${'='.repeat(76)}`, `-- Panel ${i + 1}: ${p.title} [${p.key}] (${p.type})`);
    for (const line of wrap(p.description, 74)) out.push(`-- ${line}`);
    out.push(`-- Columns: ${p.columns.join(', ')}`, `${p.sql};`);
  });
  return `${out.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Splits docs/dashboard_queries.sql back into { key -> SQL } (for tests). */
export function parseQueriesDoc(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const blocks = text.split(/^-- =+$/m).slice(1);
  for (const b of blocks) {
    const key = /\[([a-z_]+)\]/.exec(b)?.[1];
    const body = b
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n')
      .trim()
      .replace(/;$/, '');
    if (key) out.set(key, body);
  }
  return out;
}
