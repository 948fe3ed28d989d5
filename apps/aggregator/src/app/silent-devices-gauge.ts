/**
 * How many devices are silent now, for the alert on silent devices: two
 * gauges without per-device labels, read from iot_device_health (the one
 * silence rule) when Prometheus scrapes. Only the pipeline that holds
 * partition 0 of the raw topic reports them (as for the retention job), so
 * the fleet is counted once whatever the number of instances; the others
 * report no series. The count is read at most once per `maxAgeMs`, since the
 * view reads every device's recent minutes; a failed read keeps the last
 * value and is counted, never failing the scrape.
 */
import { TABLES, type ClickHouseSinkClient } from '@stream-analytics/clickhouse-sink';
import type { Logger } from '@stream-analytics/runtime';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface DeviceSilence {
  silent: number;
  devices: number;
}

export interface SilentDevicesGaugeOptions {
  registry: Registry;
  /** This pipeline holds partition 0 of the raw topic now. */
  isOwner: () => boolean;
  read: () => Promise<DeviceSilence>;
  logger: Pick<Logger, 'warn'>;
  /** Default 60 s. */
  maxAgeMs?: number;
  now?: () => number;
}

/** Registers the gauges, updated on every scrape; returns the update (what a scrape runs). */
export function registerSilentDevicesGauges(o: SilentDevicesGaugeOptions): () => Promise<void> {
  const now = o.now ?? Date.now;
  const maxAgeMs = o.maxAgeMs ?? 60_000;
  const labels = { source: 'iot_device_health' } as const;
  // Both gauges' collect share one update, so a scrape reads the view at most once.
  let updating: Promise<void> | undefined;
  const collect = () => (updating ??= update().finally(() => (updating = undefined)));
  const silent = new Gauge({
    name: 'aggregator_devices_silent',
    help: 'Devices silent now by their own rhythm (SILENT_FACTOR x typical interval, at least SILENT_MIN_SECS); reported by the pipeline holding raw partition 0.',
    labelNames: ['source'],
    registers: [o.registry],
    collect,
  });
  const known = new Gauge({
    name: 'aggregator_devices_known',
    help: 'Devices in iot_device_health (seen within the aggregate retention); reported with aggregator_devices_silent.',
    labelNames: ['source'],
    registers: [o.registry],
    collect,
  });
  const failures = new Counter({ name: 'aggregator_device_health_read_failures_total', help: 'Failed reads of iot_device_health for the silent-devices gauges (the last value is kept).', registers: [o.registry] });
  let last: { at: number; value: DeviceSilence } | undefined;

  async function update(): Promise<void> {
    if (!o.isOwner()) {
      silent.reset();
      known.reset();
      last = undefined;
      return;
    }
    if (!last || now() - last.at >= maxAgeMs) {
      try {
        last = { at: now(), value: await o.read() };
      } catch (err) {
        failures.inc();
        o.logger.warn({ err: (err as Error).message }, 'could not read iot_device_health; the silent-devices gauges keep their last value');
      }
    }
    if (!last) return;
    silent.set(labels, last.value.silent);
    known.set(labels, last.value.devices);
  }
  return collect;
}

/** The silence counts as iot_device_health says now. */
export async function readDeviceSilence(clickhouse: ClickHouseSinkClient): Promise<DeviceSilence> {
  const rows = await clickhouse.queryRows<{ silent: number | string; devices: number | string }>(`SELECT countIf(silent = 1) AS silent, count() AS devices FROM ${TABLES.deviceHealth}`);
  return { silent: Number(rows[0]?.silent ?? 0), devices: Number(rows[0]?.devices ?? 0) };
}
