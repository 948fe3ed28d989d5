/**
 * The devices dashboard as Grafana would load it: generated from
 * device-panels.ts and up to date, a searchable $device variable read from
 * ClickHouse, a query on every panel with only known macros, and the links
 * between it and the overview.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildDashboard, DEVICE_QUERIES_FILE, DEVICES_DASHBOARD_FILE, DEVICES_DASHBOARD_UID, parseQueriesDoc, renderDeviceQueriesDoc, renderDevicesDashboard } from './dashboard';
import { DEVICE_PANELS, DEVICE_VARIABLE, expandDevicePanelSql } from './device-panels';
import { MACROS, macrosIn } from './macros';

const root = path.resolve(__dirname, '../../../..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

describe('devices dashboard', () => {
  const dashboard = JSON.parse(read(DEVICES_DASHBOARD_FILE)) as {
    uid: string;
    refresh: string;
    templating: { list: Array<{ name: string; type: string; query: string; multi: boolean }> };
    panels: Array<{ title: string; targets: Array<{ rawSql: string }> }>;
    links: Array<{ url: string }>;
  };

  it('is what device-panels.ts generates, and so is docs/dashboard_device_queries.sql', () => {
    expect(read(DEVICES_DASHBOARD_FILE)).toBe(renderDevicesDashboard());
    expect(read(DEVICE_QUERIES_FILE)).toBe(renderDeviceQueriesDoc());
    const doc = parseQueriesDoc(read(DEVICE_QUERIES_FILE));
    expect([...doc.keys()]).toEqual(DEVICE_PANELS.map((p) => p.key));
  });

  it('has one $device variable from ClickHouse (single value, searchable in the picker) and refreshes every 5 s', () => {
    expect(dashboard.uid).toBe(DEVICES_DASHBOARD_UID);
    expect(dashboard.refresh).toBe('5s');
    expect(dashboard.templating.list).toEqual([expect.objectContaining({ name: DEVICE_VARIABLE, type: 'query', multi: false })]);
    expect(dashboard.templating.list[0].query).toMatch(/FROM stream_analytics\.iot_device_last_seen GROUP BY device_id HAVING maxMerge\(last_seen_state\) >= toInt64\(toUInt32\(\$__fromTime\)\) \* 1000/);
  });

  it('every panel has a query with only known macros; the device panels use the variable, quoted', () => {
    for (const p of DEVICE_PANELS) {
      for (const m of macrosIn(p.sql)) expect(Object.keys(MACROS)).toContain(m);
      if (p.key.startsWith('device_')) expect(p.sql).toContain(`device_id = '\${${DEVICE_VARIABLE}}'`);
      if (p.queryType === 'timeseries') expect(p.columns[0]).toBe('time');
      const expanded = expandDevicePanelSql(p, { fromMs: Date.UTC(2026, 0, 1), toMs: Date.UTC(2026, 0, 2) }, 'dev-000001');
      expect(expanded).not.toMatch(/\$/);
    }
    expect(() => expandDevicePanelSql(DEVICE_PANELS[0], { fromMs: 0, toMs: 1 }, "x' OR 1=1 --")).toThrow(/device id/);
  });

  it('links to the overview, and the overview links to it', () => {
    expect(dashboard.links.map((l) => l.url)).toEqual(['/d/iot-streaming-overview']);
    expect((buildDashboard() as { links: Array<{ url: string }> }).links.map((l) => l.url)).toEqual([`/d/${DEVICES_DASHBOARD_UID}`]);
  });
});
