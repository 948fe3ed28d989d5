/**
 * Writes grafana/dashboards/iot-streaming-overview.json, iot-devices.json and
 * pipeline-health.json, docs/dashboard_queries.sql and dashboard_device_queries.sql
 * from panels.ts, device-panels.ts and pipeline-health.ts; --check only compares and exits
 * 1 when a file is out of date.
 *   npx nx run dashboard:generate [-- --check]
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DASHBOARD_FILE,
  DEVICE_QUERIES_FILE,
  DEVICES_DASHBOARD_FILE,
  QUERIES_FILE,
  renderDashboard,
  renderDeviceQueriesDoc,
  renderDevicesDashboard,
  renderQueriesDoc,
} from './lib/dashboard';
import { PIPELINE_HEALTH_FILE, renderPipelineHealthDashboard } from './lib/pipeline-health';

const root = path.resolve(__dirname, '../../..');
const check = process.argv.includes('--check');
let stale = 0;
for (const [file, content] of [
  [DASHBOARD_FILE, renderDashboard()],
  [QUERIES_FILE, renderQueriesDoc()],
  [DEVICES_DASHBOARD_FILE, renderDevicesDashboard()],
  [DEVICE_QUERIES_FILE, renderDeviceQueriesDoc()],
  [PIPELINE_HEALTH_FILE, renderPipelineHealthDashboard()],
] as const) {
  const target = path.join(root, file);
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : undefined;
  if (current === content) {
    process.stdout.write(`up to date: ${file}\n`);
  } else if (check) {
    process.stdout.write(`OUT OF DATE: ${file} (run: npx nx run dashboard:generate)\n`);
    stale++;
  } else {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
    process.stdout.write(`wrote ${file}\n`);
  }
}
process.exitCode = stale ? 1 : 0;
