/**
 * The few Kafka admin requests that the librdkafka binding (1.10) does not
 * expose, spoken directly on the wire: topic configs (DescribeConfigs,
 * IncrementalAlterConfigs), replica reassignment (AlterPartitionReassignments,
 * ListPartitionReassignments) and cluster metadata (Metadata v4, for the
 * broker list). Topic creation, partition growth and topic descriptions use
 * librdkafka's AdminClient (see cluster.ts).
 *
 * Versions are chosen per request from the broker's ApiVersions answer; the
 * ones used here exist on Apache Kafka 2.4 through 4.x and on Redpanda.
 * Protocol reference: https://kafka.apache.org/protocol and the
 * clients/src/main/resources/common/message/*.json files of Apache Kafka.
 *
 * Plaintext only (like the apps' own Kafka settings); each request uses a
 * fresh connection to the first bootstrap broker that answers.
 */
import net from 'node:net';

export const API = {
  Metadata: 3,
  DescribeConfigs: 32,
  ApiVersions: 18,
  IncrementalAlterConfigs: 44,
  AlterPartitionReassignments: 45,
  ListPartitionReassignments: 46,
} as const;

export const RESOURCE_TYPE = { topic: 2, broker: 4 } as const;

/** DescribeConfigs config_source values. */
export const CONFIG_SOURCE: Record<number, string> = {
  [-1]: 'unknown',
  0: 'unknown',
  1: 'topic',
  2: 'broker (dynamic, this broker)',
  3: 'broker (dynamic default)',
  4: 'broker (static)',
  5: 'default',
  6: 'broker (dynamic logger)',
  7: 'client metrics',
  8: 'group',
};
export const TOPIC_CONFIG_SOURCE = 1;

/** Names of the error codes these requests return, for readable messages. */
const ERROR_NAMES: Record<number, string> = {
  [-1]: 'UNKNOWN_SERVER_ERROR',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  7: 'REQUEST_TIMED_OUT',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  35: 'UNSUPPORTED_VERSION',
  37: 'INVALID_PARTITIONS',
  38: 'INVALID_REPLICATION_FACTOR',
  39: 'INVALID_REPLICA_ASSIGNMENT',
  40: 'INVALID_CONFIG',
  41: 'NOT_CONTROLLER',
  42: 'INVALID_REQUEST',
  44: 'POLICY_VIOLATION',
  60: 'REASSIGNMENT_IN_PROGRESS',
  85: 'NO_REASSIGNMENT_IN_PROGRESS',
};

export class KafkaProtocolError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'KafkaProtocolError';
  }
}

export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `error code ${code}`;
}

function check(code: number, message: string | null, what: string): void {
  if (code !== 0) throw new KafkaProtocolError(`${what}: ${errorName(code)}${message ? ` (${message})` : ''}`, code);
}

// ---------------------------------------------------------------------------
// Encoding

export class Writer {
  private readonly parts: Buffer[] = [];

  private push(size: number, fill: (b: Buffer) => void): this {
    const b = Buffer.alloc(size);
    fill(b);
    this.parts.push(b);
    return this;
  }
  int8(v: number): this {
    return this.push(1, (b) => b.writeInt8(v));
  }
  int16(v: number): this {
    return this.push(2, (b) => b.writeInt16BE(v));
  }
  int32(v: number): this {
    return this.push(4, (b) => b.writeInt32BE(v));
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  uvarint(v: number): this {
    const bytes: number[] = [];
    let n = v >>> 0;
    while (n >= 0x80) {
      bytes.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    bytes.push(n);
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  /** STRING / NULLABLE_STRING: int16 length (-1 = null). */
  string(s: string | null): this {
    if (s === null) return this.int16(-1);
    const b = Buffer.from(s, 'utf8');
    this.int16(b.length);
    this.parts.push(b);
    return this;
  }
  /** COMPACT_(NULLABLE_)STRING: uvarint length + 1 (0 = null). */
  compactString(s: string | null): this {
    if (s === null) return this.uvarint(0);
    const b = Buffer.from(s, 'utf8');
    this.uvarint(b.length + 1);
    this.parts.push(b);
    return this;
  }
  /** ARRAY: int32 count (-1 = null). */
  array<T>(items: readonly T[] | null, each: (w: this, item: T) => void): this {
    if (items === null) return this.int32(-1);
    this.int32(items.length);
    for (const item of items) each(this, item);
    return this;
  }
  /** COMPACT_ARRAY: uvarint count + 1 (0 = null). */
  compactArray<T>(items: readonly T[] | null, each: (w: this, item: T) => void): this {
    if (items === null) return this.uvarint(0);
    this.uvarint(items.length + 1);
    for (const item of items) each(this, item);
    return this;
  }
  /** An empty tagged-field section (flexible versions). */
  tags(): this {
    return this.uvarint(0);
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): number {
    if (this.off + n > this.buf.length) throw new Error(`truncated Kafka response (need ${n} bytes at ${this.off} of ${this.buf.length})`);
    const at = this.off;
    this.off += n;
    return at;
  }
  int8(): number {
    return this.buf.readInt8(this.need(1));
  }
  int16(): number {
    return this.buf.readInt16BE(this.need(2));
  }
  int32(): number {
    return this.buf.readInt32BE(this.need(4));
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  uvarint(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.buf.readUInt8(this.need(1));
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new Error('malformed varint in Kafka response');
  }
  string(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    const at = this.need(len);
    return this.buf.toString('utf8', at, at + len);
  }
  compactString(): string | null {
    const len = this.uvarint() - 1;
    if (len < 0) return null;
    const at = this.need(len);
    return this.buf.toString('utf8', at, at + len);
  }
  array<T>(each: (r: this) => T): T[] {
    const n = this.int32();
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(each(this));
    return out;
  }
  compactArray<T>(each: (r: this) => T): T[] {
    const n = this.uvarint() - 1;
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(each(this));
    return out;
  }
  /** Skips a tagged-field section. */
  tags(): void {
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint();
      this.need(this.uvarint());
    }
  }
  get remaining(): number {
    return this.buf.length - this.off;
  }
}

// ---------------------------------------------------------------------------
// Transport

export interface BrokerAddress {
  host: string;
  port: number;
}

export function parseBrokers(list: string): BrokerAddress[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.lastIndexOf(':');
      const host = s.slice(0, i).replace(/^\[(.*)\]$/, '$1');
      return { host, port: Number(s.slice(i + 1)) };
    });
}

let nextCorrelationId = 1;

/**
 * Sends one request on a fresh connection and resolves with the response
 * body (after the response header). Request header v1 for non-flexible
 * versions, v2 (with an empty tag section) for flexible ones; the response
 * header of a flexible response carries a tag section too, except for
 * ApiVersions, whose response header is always v0.
 */
export function roundTrip(addr: BrokerAddress, apiKey: number, apiVersion: number, flexible: boolean, body: Buffer, timeoutMs: number): Promise<Reader> {
  const correlationId = nextCorrelationId++;
  const header = new Writer().int16(apiKey).int16(apiVersion).int32(correlationId).string('provision-topics');
  if (flexible) header.tags();
  const payload = Buffer.concat([header.bytes(), body]);
  const frame = Buffer.concat([new Writer().int32(payload.length).bytes(), payload]);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: addr.host, port: addr.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, r?: Reader) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`no answer from ${addr.host}:${addr.port} within ${timeoutMs} ms`)));
    socket.on('error', (err) => finish(new Error(`${addr.host}:${addr.port}: ${err.message}`)));
    socket.on('connect', () => socket.write(frame));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const size = buf.readInt32BE(0);
      if (size < 4 || size > 256 * 1024 * 1024) return finish(new Error(`${addr.host}:${addr.port} is not a Kafka broker (response size ${size})`));
      if (buf.length < 4 + size) return;
      const r = new Reader(buf.subarray(4, 4 + size));
      const gotId = r.int32();
      if (gotId !== correlationId) return finish(new Error(`correlation id ${gotId} != ${correlationId} from ${addr.host}:${addr.port}`));
      if (flexible && apiKey !== API.ApiVersions) r.tags();
      finish(null, r);
    });
    socket.on('end', () => finish(new Error(`${addr.host}:${addr.port} closed the connection without a response`)));
  });
}

// ---------------------------------------------------------------------------
// Requests

export interface ApiRange {
  min: number;
  max: number;
}

export interface WireBroker {
  id: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface WirePartition {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
  errorCode: number;
}

export interface WireTopic {
  name: string;
  errorCode: number;
  partitions: WirePartition[];
}

export interface ClusterMetadata {
  clusterId: string | null;
  controllerId: number;
  brokers: WireBroker[];
  topics: WireTopic[];
}

export interface ConfigEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  /** See CONFIG_SOURCE; 1 = set on the topic itself. */
  source: number;
  sensitive: boolean;
}

export interface ConfigChange {
  name: string;
  /** 0 SET, 1 DELETE. */
  op: 'set' | 'delete';
  value?: string;
}

export interface OngoingReassignment {
  topic: string;
  partition: number;
  replicas: number[];
  adding: number[];
  removing: number[];
}

/**
 * A small admin client over the wire protocol. It remembers the first
 * bootstrap broker that answered and the API versions it supports.
 */
export class WireAdmin {
  private addr?: BrokerAddress;
  private versions?: Map<number, ApiRange>;

  constructor(
    private readonly brokers: string,
    private readonly timeoutMs = 30000,
  ) {}

  private async connect(): Promise<BrokerAddress> {
    if (this.addr && this.versions) return this.addr;
    const problems: string[] = [];
    for (const addr of parseBrokers(this.brokers)) {
      try {
        const r = await roundTrip(addr, API.ApiVersions, 0, false, Buffer.alloc(0), this.timeoutMs);
        const errorCode = r.int16();
        const ranges = r.array((x) => ({ key: x.int16(), min: x.int16(), max: x.int16() }));
        check(errorCode, null, 'ApiVersions');
        this.versions = new Map(ranges.map((v) => [v.key, { min: v.min, max: v.max }]));
        this.addr = addr;
        return addr;
      } catch (err) {
        problems.push(`${addr.host}:${addr.port}: ${(err as Error).message}`);
      }
    }
    throw new Error(`no Kafka broker answered (${problems.join('; ')})`);
  }

  /** The highest version in `wanted` the broker supports. */
  private pick(apiKey: number, wanted: readonly number[], name: string): number {
    const range = this.versions!.get(apiKey);
    const v = range ? [...wanted].sort((a, b) => b - a).find((x) => x >= range.min && x <= range.max) : undefined;
    if (v === undefined) {
      throw new Error(`the broker does not support ${name} version ${wanted.join('/')} (it supports ${range ? `${range.min}-${range.max}` : 'none'})`);
    }
    return v;
  }

  async metadata(topics: string[] | null = []): Promise<ClusterMetadata> {
    const addr = await this.connect();
    const v = this.pick(API.Metadata, [4], 'Metadata');
    const body = new Writer()
      .array(topics, (w, t) => w.string(t))
      .bool(false)
      .bytes();
    const r = await roundTrip(addr, API.Metadata, v, false, body, this.timeoutMs);
    r.int32(); // throttle
    const brokers = r.array((x) => ({ id: x.int32(), host: x.string() ?? '', port: x.int32(), rack: x.string() }));
    const clusterId = r.string();
    const controllerId = r.int32();
    const topicList = r.array((x) => {
      const errorCode = x.int16();
      const name = x.string() ?? '';
      x.bool(); // is_internal
      const partitions = x.array((p) => ({
        errorCode: p.int16(),
        partition: p.int32(),
        leader: p.int32(),
        replicas: p.array((q) => q.int32()),
        isr: p.array((q) => q.int32()),
      }));
      return { name, errorCode, partitions };
    });
    return { clusterId, controllerId, brokers: brokers.sort((a, b) => a.id - b.id), topics: topicList };
  }

  /** All configs of each topic (a missing topic yields an error). */
  async describeTopicConfigs(topics: string[]): Promise<Map<string, ConfigEntry[]>> {
    const addr = await this.connect();
    const v = this.pick(API.DescribeConfigs, [1, 2, 3], 'DescribeConfigs');
    const w = new Writer().array(topics, (x, t) => x.int8(RESOURCE_TYPE.topic).string(t).array(null, () => undefined)).bool(false);
    if (v >= 3) w.bool(false); // include_documentation
    const r = await roundTrip(addr, API.DescribeConfigs, v, false, w.bytes(), this.timeoutMs);
    r.int32(); // throttle
    const out = new Map<string, ConfigEntry[]>();
    const results = r.array((x) => {
      const errorCode = x.int16();
      const errorMessage = x.string();
      x.int8();
      const name = x.string() ?? '';
      const configs = x.array((c) => {
        const entry: ConfigEntry = { name: c.string() ?? '', value: c.string(), readOnly: c.bool(), source: c.int8(), sensitive: c.bool() };
        c.array((s) => (s.string(), s.string(), s.int8()));
        if (v >= 3) {
          c.int8(); // config_type
          c.string(); // documentation
        }
        return entry;
      });
      return { errorCode, errorMessage, name, configs };
    });
    for (const res of results) {
      check(res.errorCode, res.errorMessage, `DescribeConfigs ${res.name}`);
      out.set(res.name, res.configs);
    }
    return out;
  }

  /** Sets or deletes topic-level configs (IncrementalAlterConfigs). */
  async alterTopicConfigs(changes: Map<string, ConfigChange[]>, validateOnly = false): Promise<void> {
    if (changes.size === 0) return;
    const addr = await this.connect();
    const v = this.pick(API.IncrementalAlterConfigs, [0], 'IncrementalAlterConfigs');
    const body = new Writer()
      .array([...changes.entries()], (w, [topic, list]) =>
        w
          .int8(RESOURCE_TYPE.topic)
          .string(topic)
          .array(list, (x, c) => x.string(c.name).int8(c.op === 'set' ? 0 : 1).string(c.op === 'set' ? (c.value ?? '') : null)),
      )
      .bool(validateOnly)
      .bytes();
    const r = await roundTrip(addr, API.IncrementalAlterConfigs, v, false, body, this.timeoutMs);
    r.int32();
    const responses = r.array((x) => ({ errorCode: x.int16(), errorMessage: x.string(), type: x.int8(), name: x.string() ?? '' }));
    for (const res of responses) check(res.errorCode, res.errorMessage, `IncrementalAlterConfigs ${res.name}`);
  }

  /** Starts replica reassignments: topic -> partition -> the full new replica list (first = preferred leader). */
  async alterPartitionReassignments(plan: Map<string, Map<number, number[]>>): Promise<void> {
    if (plan.size === 0) return;
    const addr = await this.connect();
    const v = this.pick(API.AlterPartitionReassignments, [0], 'AlterPartitionReassignments');
    const body = new Writer()
      .int32(this.timeoutMs)
      .compactArray([...plan.entries()], (w, [topic, parts]) =>
        w
          .compactString(topic)
          .compactArray([...parts.entries()], (x, [partition, replicas]) =>
            x
              .int32(partition)
              .compactArray(replicas, (y, id) => y.int32(id))
              .tags(),
          )
          .tags(),
      )
      .tags()
      .bytes();
    const r = await roundTrip(addr, API.AlterPartitionReassignments, v, true, body, this.timeoutMs);
    r.int32();
    const errorCode = r.int16();
    const errorMessage = r.compactString();
    check(errorCode, errorMessage, 'AlterPartitionReassignments');
    const problems: string[] = [];
    r.compactArray((t) => {
      const name = t.compactString();
      t.compactArray((p) => {
        const partition = p.int32();
        const code = p.int16();
        const message = p.compactString();
        p.tags();
        if (code !== 0) problems.push(`${name}[${partition}]: ${errorName(code)}${message ? ` (${message})` : ''}`);
      });
      t.tags();
    });
    if (problems.length) throw new KafkaProtocolError(`AlterPartitionReassignments refused: ${problems.join('; ')}`, 0);
  }

  /** Reassignments still in progress (all topics when `topics` is null). */
  async listPartitionReassignments(topics: string[] | null = null): Promise<OngoingReassignment[]> {
    const addr = await this.connect();
    const v = this.pick(API.ListPartitionReassignments, [0], 'ListPartitionReassignments');
    let partitionsOf: Map<string, number[]> | null = null;
    if (topics) {
      const meta = await this.metadata(topics);
      partitionsOf = new Map(meta.topics.map((t) => [t.name, t.partitions.map((p) => p.partition)]));
    }
    const body = new Writer()
      .int32(this.timeoutMs)
      .compactArray(partitionsOf ? [...partitionsOf.entries()] : null, (w, [name, parts]) =>
        w
          .compactString(name)
          .compactArray(parts, (x, p) => x.int32(p))
          .tags(),
      )
      .tags()
      .bytes();
    const r = await roundTrip(addr, API.ListPartitionReassignments, v, true, body, this.timeoutMs);
    r.int32();
    const errorCode = r.int16();
    const errorMessage = r.compactString();
    check(errorCode, errorMessage, 'ListPartitionReassignments');
    const out: OngoingReassignment[] = [];
    r.compactArray((t) => {
      const topic = t.compactString() ?? '';
      t.compactArray((p) => {
        const partition = p.int32();
        const replicas = p.compactArray((q) => q.int32());
        const adding = p.compactArray((q) => q.int32());
        const removing = p.compactArray((q) => q.int32());
        p.tags();
        out.push({ topic, partition, replicas, adding, removing });
      });
      t.tags();
    });
    return out;
  }
}
