import { createClickHouseClient } from './client';
import { splitUrls } from './client-config';
import { isFailoverError, isQuorumError, QuorumNotReachedError, ReplicaNotCaughtUpError } from './errors';

const serverError = (text: string) => new Error(text);

describe('client configuration and error classes (no server)', () => {
  it('takes one URL or several comma-separated ones', async () => {
    expect(splitUrls('http://a:8123')).toEqual(['http://a:8123']);
    expect(splitUrls(' http://a:8123 , http://b:8123,, ')).toEqual(['http://a:8123', 'http://b:8123']);
    const c = createClickHouseClient({ url: 'http://a:8123,http://b:8123', replication: {} });
    expect(c.config.urls).toEqual(['http://a:8123', 'http://b:8123']);
    expect(c.config.url).toBe('http://a:8123');
    expect(c.config.replication).toEqual({ insertQuorum: 2, insertQuorumTimeoutMs: 10_000, onQuorumLoss: 'degrade', catchUpTimeoutMs: 5000 });
    expect(c.replicationState()).toEqual({ endpoint: 'http://a:8123', unavailable: [] });
    await c.close();
    expect(createClickHouseClient({ url: 'http://a:8123' }).config.replication).toBeUndefined();
    expect(() => createClickHouseClient({ url: ' , ' })).toThrow(/non-empty url/);
  });

  it('recognises quorum failures in both server formats', () => {
    expect(isQuorumError(serverError('Code: 285, e.displayText() = DB::Exception: Number of alive replicas (1) is less than requested quorum (2).'))).toBe(true);
    expect(isQuorumError(serverError('Code: 286, e.displayText() = DB::Exception: Quorum for previous write has not been satisfied yet.'))).toBe(true);
    expect(isQuorumError(serverError('Code: 319. DB::Exception: Unknown status, client must retry. (UNKNOWN_STATUS_OF_INSERT)'))).toBe(true);
    expect(isQuorumError(serverError('Code: 60, e.displayText() = DB::Exception: Table x doesn\'t exist.'))).toBe(false);
  });

  it('moves to another endpoint on connection errors and unusable replicas, not on errors of the request', () => {
    expect(isFailoverError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isFailoverError(serverError('Code: 242, e.displayText() = DB::Exception: Table is in readonly mode'))).toBe(true);
    expect(isFailoverError(new ReplicaNotCaughtUpError('http://b', 'db.t', new Error('timeout')))).toBe(true);
    expect(isFailoverError(serverError('Code: 62, e.displayText() = DB::Exception: Syntax error'))).toBe(false);
    expect(isFailoverError(new QuorumNotReachedError('db.t', 2, serverError('Code: 285, e.displayText() = DB::Exception: too few')))).toBe(false);
  });
});
