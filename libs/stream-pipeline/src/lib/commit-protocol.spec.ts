/**
 * The commit protocol's order and its one invariant: nothing is committed
 * unless every step before the commit resolved.
 */
import { runCommitProtocol, type CommitProtocolPorts, type FlushBatch } from './commit-protocol';

const STEPS = ['settle', 'state', 'dead', 'refresh', 'durable', 'publish', 'commit'] as const;
type Step = (typeof STEPS)[number];

function recorder(failAt?: Step) {
  const calls: Step[] = [];
  const step = async (name: Step) => {
    calls.push(name);
    if (name === failAt) throw new Error(`${name} failed`);
  };
  const ports: CommitProtocolPorts = {
    output: { settled: () => step('settle') },
    state: { writeWindows: () => step('state') },
    results: { writeDeadLetters: () => step('dead'), refreshResults: () => step('refresh') },
    publisher: { publish: () => step('publish') },
    source: { commit: () => step('commit') },
  };
  const hooks = {
    durable: () => void calls.push('durable'),
    stillOwned: (c: { partition: number }) => c.partition !== 9,
  };
  return { calls, ports, hooks };
}

const BATCH: FlushBatch = {
  users: [{ windowStartMs: 0, userIds: ['u'] }],
  rows: [],
  deadLetters: [{ sourceTopic: 't', sourcePartition: 0, sourceOffset: 1, windowStartMs: 60_000, reason: 'invalid_json', deviceId: '', recordedAtMs: 0 }],
  refreshWindows: [0],
  commits: [
    { partition: 0, offset: 5, metadata: 'm' },
    { partition: 9, offset: 7, metadata: 'm' },
  ],
};

describe('runCommitProtocol', () => {
  it('settles, writes state, dead letters, refreshes, marks durable, publishes, then commits the owned partitions', async () => {
    const r = recorder();
    const committed: unknown[] = [];
    r.ports.source.commit = async (c) => void committed.push(...c);
    const refreshed: unknown[] = [];
    r.ports.results.refreshResults = async (w, d) => {
      r.calls.push('refresh');
      refreshed.push(w, d);
    };
    r.calls.length = 0;
    const out = await runCommitProtocol(r.ports, BATCH, r.hooks);
    expect(out).toEqual({ kind: 'committed', partitions: 1 });
    expect(r.calls).toEqual(['settle', 'state', 'dead', 'refresh', 'durable', 'publish']);
    expect(committed).toEqual([{ partition: 0, offset: 5, metadata: 'm' }]);
    // The dead letters' minutes are refreshed with the windows.
    expect(refreshed).toEqual([[0], [60_000]]);
  });

  it.each(['settle', 'state', 'dead', 'refresh'] as const)('commits nothing and is not durable when %s fails', async (failAt) => {
    const r = recorder(failAt);
    await expect(runCommitProtocol(r.ports, BATCH, r.hooks)).rejects.toThrow(`${failAt} failed`);
    expect(r.calls).toEqual(STEPS.slice(0, STEPS.indexOf(failAt) + 1));
    expect(r.calls).not.toContain('commit');
    expect(r.calls).not.toContain('durable');
  });

  it('reports a refused commit without failing the flush (the rows are durable)', async () => {
    const r = recorder('commit');
    const out = await runCommitProtocol(r.ports, BATCH, r.hooks);
    expect(out).toMatchObject({ kind: 'commit_failed', error: new Error('commit failed') });
    expect(r.calls).toEqual(STEPS);
  });

  it('commits nothing for partitions no longer owned, and publishes nothing when no window changed', async () => {
    const r = recorder();
    const out = await runCommitProtocol(r.ports, { ...BATCH, refreshWindows: [], commits: [{ partition: 9, offset: 1, metadata: '' }] }, r.hooks);
    expect(out).toEqual({ kind: 'nothing_to_commit' });
    expect(r.calls).toEqual(['settle', 'state', 'dead', 'refresh', 'durable']);
  });

  it('times each step that resolved by the given clock, and none after a failure', async () => {
    const clock = { t: 0 };
    const cost: Record<string, number> = { settle: 1, state: 40, dead: 2, refresh: 300, publish: 5, commit: 7 };
    const timed = (failAt?: Step) => {
      const r = recorder(failAt);
      for (const [port, fn] of [
        [r.ports.output, 'settled'],
        [r.ports.state, 'writeWindows'],
        [r.ports.results, 'writeDeadLetters'],
        [r.ports.results, 'refreshResults'],
        [r.ports.publisher, 'publish'],
        [r.ports.source, 'commit'],
      ] as const) {
        const inner = (port as unknown as Record<string, () => Promise<void>>)[fn];
        (port as unknown as Record<string, () => Promise<void>>)[fn] = async () => {
          await inner();
          clock.t += cost[r.calls.at(-1) as string];
        };
      }
      const steps: Array<[string, number]> = [];
      return { r, steps, hooks: { ...r.hooks, timing: { now: () => clock.t, stepDone: (step: string, ms: number) => void steps.push([step, ms]) } } };
    };
    const ok = timed();
    await runCommitProtocol(ok.r.ports, BATCH, ok.hooks);
    expect(ok.steps).toEqual([
      ['settle', 1],
      ['state', 40],
      ['dead_letters', 2],
      ['refresh', 300],
      ['publish', 5],
      ['commit', 7],
    ]);
    const failed = timed('refresh');
    await expect(runCommitProtocol(failed.r.ports, BATCH, failed.hooks)).rejects.toThrow('refresh failed');
    expect(failed.steps.map(([step]) => step)).toEqual(['settle', 'state', 'dead_letters']);
  });
});
