import { Registry } from 'prom-client';
import { registerSilentDevicesGauges, type DeviceSilence } from './silent-devices-gauge';

function setup(read: () => Promise<DeviceSilence>) {
  const registry = new Registry();
  const clock = { t: 1_000_000 };
  const owner = { is: true };
  const warnings: string[] = [];
  const update = registerSilentDevicesGauges({ registry, isOwner: () => owner.is, read, logger: { warn: (...args: unknown[]) => void warnings.push(String(args[1])) }, maxAgeMs: 60_000, now: () => clock.t });
  const value = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values.map((v) => v.value);
  return { registry, clock, owner, warnings, update, value };
}

describe('silent-devices gauges', () => {
  it('report iot_device_health counts on a scrape, read at most once per maxAgeMs', async () => {
    let reads = 0;
    const h = setup(async () => ({ silent: 3 + reads++, devices: 100 }));
    const text = await h.registry.metrics();
    expect(text).toContain('aggregator_devices_silent{source="iot_device_health"} 3');
    expect(text).toContain('aggregator_devices_known{source="iot_device_health"} 100');
    expect(reads).toBe(1); // both gauges, one read
    h.clock.t += 59_000;
    expect(await h.registry.metrics()).toContain('aggregator_devices_silent{source="iot_device_health"} 3');
    h.clock.t += 1_000;
    expect(await h.registry.metrics()).toContain('aggregator_devices_silent{source="iot_device_health"} 4');
    expect(reads).toBe(2);
  });

  it('report nothing where this pipeline does not hold partition 0', async () => {
    const h = setup(async () => ({ silent: 5, devices: 9 }));
    await h.update();
    h.owner.is = false;
    await h.update();
    expect(await h.value('aggregator_devices_silent')).toEqual([]);
    expect(await h.value('aggregator_devices_known')).toEqual([]);
  });

  it('keep the last value when the read fails, and count the failure', async () => {
    let fail = false;
    const h = setup(async () => {
      if (fail) throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
      return { silent: 2, devices: 50 };
    });
    await h.update();
    fail = true;
    h.clock.t += 120_000;
    const text = await h.registry.metrics();
    expect(text).toContain('aggregator_devices_silent{source="iot_device_health"} 2');
    expect(text).toContain('aggregator_device_health_read_failures_total 1');
    expect(h.warnings).toEqual(['could not read iot_device_health; the silent-devices gauges keep their last value']);
  });
});
