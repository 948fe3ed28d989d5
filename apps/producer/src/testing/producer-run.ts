/**
 * What the producer's integration and disruptive specs share: test topics on
 * the test broker, the producer's log lines, and the exact comparison of a
 * topic with the dataset the shared generator describes.
 */
import { generateEvents, type GeneratedRecord, type GeneratorOptions } from '@stream-analytics/event-schema';
import { createTestTopic, deleteTopic, getTestEndpoints, type ConsumedMessage } from '@stream-analytics/testing';

export const PARTITIONS = 24;
export const START = '2026-11-24T09:00:00.000Z';

/**
 * Registers the spec file's hooks: resolves the test broker before the tests
 * and deletes every topic made by `topic` after them. Call at the top level.
 */
export function useProducerTopics(): { brokers: () => string; topic: (prefix: string, config?: Record<string, string>) => Promise<string> } {
  let brokers: string | undefined;
  const topics: string[] = [];
  const brokersOrThrow = () => must(brokers, 'test broker (resolved in beforeAll)');
  beforeAll(async () => {
    brokers = (await getTestEndpoints()).kafkaBrokers;
  });
  afterAll(async () => {
    for (const t of topics) await deleteTopic(brokersOrThrow(), t).catch(() => undefined);
  });
  return {
    brokers: brokersOrThrow,
    topic: async (prefix, config) => {
      const t = await createTestTopic(brokersOrThrow(), { prefix: `producer.${prefix}`, partitions: PARTITIONS, ...(config ? { config } : {}) });
      topics.push(t);
      return t;
    },
  };
}

/** The producer flags every run in these specs passes. */
export const commonArgs = (brokers: string, topic: string) => ['--brokers', brokers, '--topic', topic, '--metrics-port', '0', '--start-time', START];

export type LogLine = Record<string, unknown> & { msg: string };
export function logLines(stdout: string): LogLine[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}
export function summaryOf(stdout: string): LogLine {
  const line = logLines(stdout).find((l) => l.msg === 'summary');
  if (!line) throw new Error(`no summary line in:\n${stdout}`);
  return line;
}
/** Non-null or fail the test. */
export function must<T>(value: T | null | undefined, what = 'value'): T {
  if (value === null || value === undefined) throw new Error(`missing ${what}`);
  return value;
}

/** Asserts the topic holds exactly `expected`, each device in one partition in generation order. */
export function expectTopicEquals(messages: ConsumedMessage[], expected: GeneratedRecord[]) {
  expect(messages.length).toBe(expected.length);
  const byDevice = new Map<string, ConsumedMessage[]>();
  for (const m of [...messages].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const list = byDevice.get(String(m.key)) ?? [];
    list.push(m);
    byDevice.set(String(m.key), list);
  }
  const expectedByDevice = new Map<string, GeneratedRecord[]>();
  for (const r of expected) expectedByDevice.set(r.key, [...(expectedByDevice.get(r.key) ?? []), r]);
  expect(byDevice.size).toBe(expectedByDevice.size);
  for (const [device, recs] of expectedByDevice) {
    const got = byDevice.get(device) ?? [];
    expect(new Set(got.map((m) => m.partition)).size).toBe(1); // one partition per device
    // Generation order, exact bytes (an empty payload comes back as a null value).
    expect(got.map((m) => (m.value ?? Buffer.alloc(0)).toString('latin1'))).toEqual(recs.map((r) => r.value.toString('latin1')));
  }
}

/** The dataset a run with these options produces, regenerated offline. */
export const dataset = (opts: Partial<GeneratorOptions> & { count: number }) => [...generateEvents({ seed: 1, startTimeMs: Date.parse(START), ...opts })];
