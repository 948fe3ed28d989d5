import { deadLetterHeaders, DLQ_HEADERS, parseDeadLetterHeaders, type DeadLetterEntry } from './dead-letter';

describe('dead-letter envelope', () => {
  const entry: DeadLetterEntry = {
    reason: 'late_event',
    message: 'window 2026-11-24T09:00:00.000Z is final',
    sourceTopic: 'iot.telemetry.raw.v1',
    sourcePartition: 7,
    sourceOffset: 123456789,
    sourceTimestampMs: 1795000000123,
    windowStartMs: Date.parse('2026-11-24T09:00:00Z'),
    recordedAtMs: 1795000009999,
  };

  it('round-trips through Kafka headers, including Buffer values', () => {
    const asBuffers = deadLetterHeaders(entry).map((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Buffer.from(String(v))])));
    expect(parseDeadLetterHeaders(asBuffers)).toEqual({ ok: true, entry });
  });

  it('reports missing or unreadable headers instead of throwing', () => {
    expect(parseDeadLetterHeaders(undefined)).toEqual({ ok: false, problem: expect.stringContaining(DLQ_HEADERS.reason) });
    const bad = deadLetterHeaders(entry).map((h) => (DLQ_HEADERS.sourceOffset in h ? { [DLQ_HEADERS.sourceOffset]: 'x1' } : h));
    expect(parseDeadLetterHeaders(bad)).toEqual({ ok: false, problem: expect.stringMatching(/not integers/) });
  });

  it('leaves the window empty for entries without one', () => {
    const parsed = parseDeadLetterHeaders(deadLetterHeaders({ ...entry, windowStartMs: undefined }));
    expect(parsed.ok && parsed.entry.windowStartMs).toBeUndefined();
  });
});
