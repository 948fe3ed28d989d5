/**
 * The records of one consume, read by index, however the source delivered
 * them: as objects (SourceRecord[]) or in columns (RecordColumns, a packed
 * batch). The fold reads a record's partition, offset, timestamp and decoded
 * value by index, so a packed batch is folded without an object per record;
 * a SourceRecord is built only for what leaves the fold (a dead letter, the
 * records held back behind a failed state load).
 */
import { MAGIC_BYTE, type EventDecoder, type ValidationResult } from '@stream-analytics/event-schema';
import type { RecordColumns, SourceRecord } from './ports';

export interface RecordBatch {
  readonly length: number;
  partition(i: number): number;
  offset(i: number): number;
  /** The Kafka record timestamp; undefined or negative when there is none. */
  timestamp(i: number): number | undefined;
  /** The decoder's verdict on record i's value (a null value decodes as an empty one). */
  decode(i: number, decoder: EventDecoder): ValidationResult;
  /** Record i as an object, owning copies of its bytes (it may outlive the batch). */
  record(i: number): SourceRecord;
  /** Records from..end as objects. */
  records(from: number): SourceRecord[];
  /** The values EventDecoder.prepare must see: every one that may name a schema id. */
  valuesToPrepare(): Array<Buffer | null>;
}

const EMPTY = Buffer.alloc(0);

class ObjectBatch implements RecordBatch {
  constructor(private readonly r: readonly SourceRecord[]) {}
  get length(): number {
    return this.r.length;
  }
  partition(i: number): number {
    return this.r[i].partition;
  }
  offset(i: number): number {
    return this.r[i].offset;
  }
  timestamp(i: number): number | undefined {
    return this.r[i].timestamp;
  }
  decode(i: number, decoder: EventDecoder): ValidationResult {
    return decoder.decode(this.r[i].value ?? EMPTY);
  }
  record(i: number): SourceRecord {
    return this.r[i];
  }
  records(from: number): SourceRecord[] {
    return this.r.slice(from);
  }
  valuesToPrepare(): Array<Buffer | null> {
    return this.r.map((m) => m.value);
  }
}

class ColumnBatch implements RecordBatch {
  constructor(private readonly c: RecordColumns) {}
  get length(): number {
    return this.c.count;
  }
  partition(i: number): number {
    return this.c.partitions[i];
  }
  offset(i: number): number {
    return this.c.offsets[i];
  }
  timestamp(i: number): number {
    return this.c.timestamps[i];
  }
  decode(i: number, decoder: EventDecoder): ValidationResult {
    const length = this.c.valueLengths[i];
    if (length < 0) return decoder.decode(EMPTY);
    const start = this.c.valueOffsets[i];
    return decoder.decodeRange(this.c.buffer, start, start + length);
  }
  record(i: number): SourceRecord {
    const c = this.c;
    return {
      topic: c.topics[c.topicIndexes[i]],
      partition: c.partitions[i],
      offset: c.offsets[i],
      timestamp: c.timestamps[i],
      key: this.bytes(c.keyOffsets[i], c.keyLengths[i]),
      value: this.bytes(c.valueOffsets[i], c.valueLengths[i]),
    };
  }
  records(from: number): SourceRecord[] {
    const out: SourceRecord[] = [];
    for (let i = from; i < this.c.count; i++) out.push(this.record(i));
    return out;
  }
  valuesToPrepare(): Array<Buffer | null> {
    // Only a Confluent-framed value (magic byte 0) names a schema id; JSON needs nothing prepared.
    const out: Array<Buffer | null> = [];
    for (let i = 0; i < this.c.count; i++) {
      if (this.c.valueLengths[i] > 0 && this.c.buffer[this.c.valueOffsets[i]] === MAGIC_BYTE) out.push(this.bytes(this.c.valueOffsets[i], this.c.valueLengths[i]));
    }
    return out;
  }
  /** A copy, so that what is kept (a dead letter until acknowledged, a held-back record) does not pin the whole batch. */
  private bytes(start: number, length: number): Buffer | null {
    return length < 0 ? null : Buffer.from(this.c.buffer.subarray(start, start + length));
  }
}

export function recordBatch(consumed: readonly SourceRecord[] | RecordColumns): RecordBatch {
  return Array.isArray(consumed) ? new ObjectBatch(consumed as readonly SourceRecord[]) : new ColumnBatch(consumed as RecordColumns);
}
