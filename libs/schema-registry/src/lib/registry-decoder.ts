/**
 * The EventDecoder of apps that read from a registry: a cache of compiled
 * writer schemas by id in front of the registry client. prepare() fetches the
 * ids a batch names that the cache does not hold; once known, a schema is
 * never asked for again, so a registry outage does not stop the consumption
 * of known schemas. An id the registry does not know is remembered as unknown
 * for a while (its messages are unknown_schema); an id that cannot be
 * resolved because the registry does not answer makes prepare() reject, and
 * the caller waits and retries: valid data is never dead-lettered for it.
 */
import { compileWriterSchema, decodeEvent, decodeEventRange, schemaIdOf, type CompiledSchema, type EventDecoder, type SchemaLookup, type ValidationResult } from '@stream-analytics/event-schema';
import type { SchemaRegistry } from './client';

export interface RegistryDecoderOptions {
  /** How long an id the registry said it does not know stays unknown before it is asked again (ms); default 60000. */
  unknownTtlMs?: number;
  now?: () => number;
}

export class RegistryDecoder implements EventDecoder {
  private readonly known = new Map<number, CompiledSchema>();
  /** Ids the registry does not know, with when to ask again. */
  private readonly unknown = new Map<number, number>();
  private readonly lookup: SchemaLookup;
  private readonly now: () => number;
  private readonly ttl: number;

  constructor(
    private readonly registry: Pick<SchemaRegistry, 'schemaById'>,
    opts: RegistryDecoderOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.ttl = opts.unknownTtlMs ?? 60_000;
    this.lookup = {
      schemaFor: (id) => this.known.get(id),
      unknownReason: (id) => `schema id ${id} is not known to the schema registry`,
    };
  }

  /** Schema ids held in the cache. */
  get knownIds(): number[] {
    return [...this.known.keys()];
  }

  decode(value: Buffer | null | undefined): ValidationResult {
    return decodeEvent(value, this.lookup);
  }

  decodeRange(buf: Buffer, start: number, end: number): ValidationResult {
    return decodeEventRange(buf, start, end, this.lookup);
  }

  async prepare(values: ReadonlyArray<Buffer | null | undefined>): Promise<void> {
    const now = this.now();
    const wanted = new Set<number>();
    for (const v of values) {
      const id = schemaIdOf(v);
      if (id === undefined || this.known.has(id)) continue;
      const retryAt = this.unknown.get(id);
      if (retryAt !== undefined && retryAt > now) continue;
      wanted.add(id);
    }
    for (const id of wanted) {
      // Throws RegistryUnavailableError when the registry does not answer: the caller retries.
      const schema = await this.registry.schemaById(id);
      if (schema === undefined) {
        this.unknown.set(id, now + this.ttl);
      } else {
        this.known.set(id, compileWriterSchema(id, schema));
        this.unknown.delete(id);
      }
    }
  }
}
