/**
 * The schema registry client: the Confluent-compatible REST API through the
 * official @confluentinc/schemaregistry client (its LRU cache keeps schemas by
 * id). Only what the platform needs, with the registry's answers turned into
 * outcomes: a schema that does not exist is `undefined`, a registry that does
 * not answer (or answers 5xx) is a thrown RegistryUnavailableError, an
 * incompatible schema is a thrown IncompatibleSchemaError with the registry's
 * reason. Retries are the caller's (it knows whether to wait or give up).
 */
import https from 'node:https';
// The client's own modules, not the package index: that one also loads the serdes and the cloud KMS drivers (AWS, Azure, GCP).
import { RestError } from '@confluentinc/schemaregistry/dist/rest-error';
import type { ClientConfig } from '@confluentinc/schemaregistry/dist/rest-service';
import { SchemaRegistryClient, type ServerConfig } from '@confluentinc/schemaregistry/dist/schemaregistry-client';
import type { RegistrySchema } from '@stream-analytics/event-schema';
import { describeConnection, type RegistryConnection } from './options';

export type CompatibilityLevel = 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE' | 'NONE';

export class RegistryUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryUnavailableError';
  }
}

export class IncompatibleSchemaError extends Error {
  constructor(
    readonly subject: string,
    readonly reason: string,
  ) {
    super(`the registry refused the schema for ${subject} as incompatible: ${reason}`);
    this.name = 'IncompatibleSchemaError';
  }
}

/** Registry error codes (Confluent): 40401 subject not found, 40402 version not found, 40403 schema not found, 40408 no compatibility level set. */
const NOT_FOUND_CODES = new Set([40401, 40402, 40403, 40408]);

const isNotFound = (err: unknown): boolean => err instanceof RestError && (err.status === 404 || NOT_FOUND_CODES.has(err.errorCode));
const isIncompatible = (err: unknown): boolean => err instanceof RestError && (err.status === 409 || err.errorCode === 409);

/** The registry's own sentence from a RestError (its message carries the JSON body's message). */
function reasonOf(err: unknown): string {
  const m = (err as Error).message ?? String(err);
  return m
    .replace(/^.*?"message":"/, '')
    .replace(/","error_code".*$/, '')
    .replace(/;? ?Error code: \d+\s*$/, '');
}

/**
 * The registry's reason as one sentence: the causes it lists (Apicurio says
 * "Incompatible artifact: ..., list of diff types: [...] Causes: <causes>"),
 * with an Avro field path (/fields/4) named by the field it points at.
 */
export function incompatibilityReason(raw: string, schema: RegistrySchema): string {
  const causes = /Causes: (.*)$/s.exec(raw)?.[1] ?? raw;
  let fields: Array<{ name?: string }> = [];
  try {
    fields = (JSON.parse(schema.schema) as { fields?: Array<{ name?: string }> }).fields ?? [];
  } catch {
    // not an Avro record: paths stay as the registry wrote them
  }
  return causes
    .replace(/\/fields\/(\d+)(\S*)/g, (path, i: string) => (fields[Number(i)]?.name ? `field ${fields[Number(i)].name} (${path})` : path))
    .replace(/\s+/g, ' ')
    .trim();
}

export interface SchemaRegistry {
  readonly connection: RegistryConnection;
  /** The schema with this id; undefined when the registry says it does not exist. */
  schemaById(id: number): Promise<RegistrySchema | undefined>;
  /** Registers (idempotently: an identical schema keeps its id) and returns the id; IncompatibleSchemaError when refused. */
  register(subject: string, schema: RegistrySchema): Promise<number>;
  /** The id of the schema under the subject, or undefined when it is not registered there. */
  lookup(subject: string, schema: RegistrySchema): Promise<number | undefined>;
  /** The subject's latest version, or undefined for an unknown subject. */
  latest(subject: string): Promise<{ id: number; version: number; schema: RegistrySchema } | undefined>;
  /** The subject's own compatibility level, or undefined when it has none (the global default applies). */
  compatibility(subject: string): Promise<CompatibilityLevel | undefined>;
  setCompatibility(subject: string, level: CompatibilityLevel): Promise<void>;
  subjects(): Promise<string[]>;
  close(): void;
}

export interface RegistryClientOptions {
  /** Per-request timeout (ms); default 5000. */
  timeoutMs?: number;
}

export function createSchemaRegistry(connection: RegistryConnection, opts: RegistryClientOptions = {}): SchemaRegistry {
  const config: ClientConfig = {
    baseURLs: [connection.url],
    cacheCapacity: 1000,
    // Retries are the caller's: the aggregator waits with its own backoff and says so in readiness.
    maxRetries: 0,
    createAxiosDefaults: { timeout: opts.timeoutMs ?? 5000, ...(connection.caCert ? { httpsAgent: new https.Agent({ ca: connection.caCert }) } : {}) },
    ...(connection.username !== undefined ? { basicAuthCredentials: { credentialsSource: 'USER_INFO', userInfo: `${connection.username}:${connection.password ?? ''}` } } : {}),
  };
  const client = new SchemaRegistryClient(config);
  const where = describeConnection(connection);
  /** Runs a request; transport failures and 5xx become RegistryUnavailableError, 404s `undefined`. */
  const call = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (err instanceof RestError && err.status >= 400 && err.status < 500) throw err;
      throw new RegistryUnavailableError(`schema registry ${where} did not answer ${what}: ${(err as Error).message}`);
    }
  };
  const info = (s: RegistrySchema) => ({ schema: s.schema, ...(s.schemaType && s.schemaType !== 'AVRO' ? { schemaType: s.schemaType } : {}) });
  return {
    connection,
    async schemaById(id) {
      const s = await call(`for schema id ${id}`, () => client.getBySubjectAndId('', id));
      return s === undefined ? undefined : { schema: s.schema ?? '', schemaType: s.schemaType ?? 'AVRO' };
    },
    async register(subject, schema) {
      try {
        const id = await call(`registering ${subject}`, () => client.register(subject, info(schema)));
        if (id === undefined) throw new Error(`schema registry ${where} answered 404 registering ${subject}`);
        return id;
      } catch (err) {
        if (isIncompatible(err)) throw new IncompatibleSchemaError(subject, incompatibilityReason(reasonOf(err), schema));
        throw err;
      }
    },
    lookup: (subject, schema) => call(`looking up ${subject}`, () => client.getId(subject, info(schema))),
    async latest(subject) {
      const m = await call(`for the latest ${subject}`, () => client.getLatestSchemaMetadata(subject));
      return m === undefined ? undefined : { id: m.id ?? 0, version: m.version ?? 0, schema: { schema: m.schema ?? '', schemaType: m.schemaType ?? 'AVRO' } };
    },
    async compatibility(subject) {
      const c = await call(`for the compatibility of ${subject}`, () => client.getConfig(subject));
      return (c?.compatibilityLevel ?? c?.compatibility) as CompatibilityLevel | undefined;
    },
    async setCompatibility(subject, level) {
      await call(`setting the compatibility of ${subject}`, () => client.updateConfig(subject, { compatibility: level as ServerConfig["compatibility"] }));
    },
    subjects: async () => (await call('listing subjects', () => client.getAllSubjects())) ?? [],
    close: () => client.close(),
  };
}
