// Just enough of the Kafka wire protocol to ask a broker real questions without a JVM:
// ApiVersions v0 (is the request pipeline up?) and Metadata v4 (brokers and topics).
// Both are non-"flexible" versions, so plain big-endian fields with int16-length strings suffice.
// Spec: https://kafka.apache.org/protocol and clients/src/main/resources/common/message/*.json.
import { connect } from 'node:net';

const API_METADATA = 3;
const API_VERSIONS = 18;
const CLIENT_ID = 'stack-tool';

let nextCorrelationId = 1;

function encodeString(s) {
  const bytes = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/** Request header v1: api_key, api_version, correlation_id, client_id. */
function frame(apiKey, apiVersion, correlationId, body) {
  const header = Buffer.alloc(8);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  const payload = Buffer.concat([header, encodeString(CLIENT_ID), body]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

/** Sends one request on a fresh connection and resolves with the response body (after the v0 header). */
function roundTrip(host, port, apiKey, apiVersion, body, timeoutMs) {
  return new Promise((resolvePromise, reject) => {
    const correlationId = nextCorrelationId++;
    const socket = connect({ host, port });
    let buf = Buffer.alloc(0);
    const fail = (err) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)));
    socket.on('error', fail);
    socket.on('connect', () => socket.write(frame(apiKey, apiVersion, correlationId, body)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const size = buf.readInt32BE(0);
      if (size < 4 || size > 64 * 1024 * 1024) return fail(new Error(`not a Kafka response (size ${size})`));
      if (buf.length < 4 + size) return;
      socket.destroy();
      const gotId = buf.readInt32BE(4);
      if (gotId !== correlationId) return reject(new Error(`correlation id ${gotId} != ${correlationId}; not a Kafka broker?`));
      resolvePromise(buf.subarray(8, 4 + size));
    });
    socket.on('end', () => fail(new Error(`${host}:${port} closed the connection without a Kafka response`)));
  });
}

/** A bounds-checked big-endian reader; any overrun means the answer was not what we expect. */
class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }
  take(n) {
    if (this.pos + n > this.buf.length) throw new Error('truncated Kafka response');
    const at = this.pos;
    this.pos += n;
    return at;
  }
  int8() {
    return this.buf.readInt8(this.take(1));
  }
  int16() {
    return this.buf.readInt16BE(this.take(2));
  }
  int32() {
    return this.buf.readInt32BE(this.take(4));
  }
  nullableString() {
    const len = this.int16();
    if (len < 0) return null;
    const at = this.take(len);
    return this.buf.toString('utf8', at, at + len);
  }
  array(readItem) {
    const n = this.int32();
    if (n < 0) return null;
    const items = [];
    for (let i = 0; i < n; i++) items.push(readItem());
    return items;
  }
}

/** ApiVersions v0 → Map(apiKey → {min, max}). Throws unless the broker answered without error. */
export async function apiVersions(host, port, timeoutMs = 2000) {
  const r = new Reader(await roundTrip(host, port, API_VERSIONS, 0, Buffer.alloc(0), timeoutMs));
  const errorCode = r.int16();
  const keys = r.array(() => ({ key: r.int16(), min: r.int16(), max: r.int16() })) ?? [];
  if (errorCode !== 0) throw new Error(`ApiVersions error code ${errorCode}`);
  return new Map(keys.map((k) => [k.key, { min: k.min, max: k.max }]));
}

/**
 * Metadata v4 for all topics → {brokers, controllerId, topics: [{name, error, internal, partitions}]}.
 * partitions holds {index, leader, error} per partition.
 */
export async function metadata(host, port, timeoutMs = 5000) {
  // topics: null (-1) means all topics; allow_auto_topic_creation: false.
  const body = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]);
  const r = new Reader(await roundTrip(host, port, API_METADATA, 4, body, timeoutMs));
  r.int32(); // throttle_time_ms
  const brokers = r.array(() => ({ nodeId: r.int32(), host: r.nullableString(), port: r.int32(), rack: r.nullableString() })) ?? [];
  const clusterId = r.nullableString();
  const controllerId = r.int32();
  const topics =
    r.array(() => {
      const error = r.int16();
      const name = r.nullableString();
      const internal = r.int8() !== 0;
      const partitions =
        r.array(() => {
          const p = { error: r.int16(), index: r.int32(), leader: r.int32() };
          r.array(() => r.int32()); // replica nodes
          r.array(() => r.int32()); // isr nodes
          return p;
        }) ?? [];
      return { name, error, internal, partitions };
    }) ?? [];
  return { brokers, clusterId, controllerId, topics };
}

/**
 * Readiness: the broker answers ApiVersions, supports Metadata v4, and its metadata already
 * lists a broker and an active controller, i.e. it has caught up with the KRaft quorum and can
 * serve producers, consumers and admin requests.
 */
export async function kafkaReady(host, port, timeoutMs = 2000) {
  const versions = await apiVersions(host, port, timeoutMs);
  const md = versions.get(API_METADATA);
  if (!md || md.min > 4 || md.max < 4) throw new Error('broker does not support Metadata v4');
  const meta = await metadata(host, port, timeoutMs);
  if (meta.brokers.length === 0) throw new Error('metadata lists no brokers yet');
  if (meta.controllerId < 0) throw new Error('no active controller yet');
  return meta;
}
