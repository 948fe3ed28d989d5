import { InFlight, Ingest, type IngestOutcome } from './acks';

describe('Ingest', () => {
  const make = () => {
    const outcomes: IngestOutcome[] = [];
    let now = 1000;
    const ingest = new Ingest(1000, (o) => outcomes.push(o), () => now);
    return { ingest, outcomes, advance: (ms: number) => (now += ms) };
  };

  it('completes once, after seal and the last delivery report, in any order', () => {
    const { ingest, outcomes, advance } = make();
    ingest.add();
    ingest.add();
    ingest.settle();
    ingest.add();
    ingest.settle();
    expect(outcomes).toHaveLength(0); // not sealed yet: more records may come
    ingest.seal();
    expect(outcomes).toHaveLength(0); // one record still pending
    advance(7);
    ingest.settle();
    expect(outcomes).toEqual([{ records: 3, failed: 0, latencyMs: 7 }]);
    expect(ingest.isComplete).toBe(true);
  });

  it('completes at seal when every report came first, and with no records at all', () => {
    const a = make();
    a.ingest.add();
    a.ingest.settle();
    a.ingest.seal();
    expect(a.outcomes).toEqual([{ records: 1, failed: 0, latencyMs: 0 }]);
    const b = make();
    b.ingest.seal();
    expect(b.outcomes).toEqual([{ records: 0, failed: 0, latencyMs: 0 }]);
  });

  it('reports failures with the first error', () => {
    const { ingest, outcomes } = make();
    for (let i = 0; i < 3; i++) ingest.add();
    ingest.seal();
    ingest.settle('Local: Message timed out');
    ingest.settle();
    ingest.settle('other');
    expect(outcomes).toEqual([{ records: 3, failed: 2, error: 'Local: Message timed out', latencyMs: 0 }]);
  });

  it('refuses bookkeeping errors instead of acknowledging early', () => {
    const { ingest } = make();
    expect(() => ingest.settle()).toThrow(/without a pending record/);
    ingest.seal();
    expect(() => ingest.add()).toThrow(/after seal/);
  });
});

describe('InFlight', () => {
  it('admits within the bounds, always one ingest when empty, and tells when idle', async () => {
    const f = new InFlight({ maxEvents: 3, maxBytes: 100 });
    expect(f.admits(10, 1000)).toBe(true); // empty: a single oversize ingest still goes
    f.take(40);
    f.take(40);
    expect(f.admits(1, 20)).toBe(true);
    expect(f.admits(1, 21)).toBe(false);
    expect(f.admits(2, 1)).toBe(false);
    const idle = f.idle(1000);
    let done = false;
    void idle.then(() => (done = true));
    f.release(40);
    await Promise.resolve();
    expect(done).toBe(false);
    f.release(40);
    expect(await idle).toBe(true);
    expect(f.events).toBe(0);
    expect(f.bytes).toBe(0);
  });

  it('gives up waiting after the timeout', async () => {
    const f = new InFlight({ maxEvents: 3, maxBytes: 100 });
    f.take(1);
    expect(await f.idle(10)).toBe(false);
  });
});
