/**
 * The wire-format and schema-registry options every app and tool that reads
 * or writes events declares, once: `--format` / EVENT_FORMAT and the registry
 * connection (URL, basic auth with the password directly or from a file, a CA
 * certificate for https), with the same conventions as Kafka's and
 * ClickHouse's. {@link resolveRegistryConnection} validates them as a whole
 * and reads the files once, at start.
 */
import fs from 'node:fs';
import { formatUsage, readSecretFile, UsageError, type CommandSpec, type OptionSpecs } from '@stream-analytics/runtime';
import { WIRE_FORMATS, type WireFormat } from '@stream-analytics/event-schema';

/** Where the local stack and the tests run the registry (Apicurio's Confluent-compatible API). */
export const DEFAULT_LOCAL_REGISTRY_URL = 'http://127.0.0.1:8081/apis/ccompat/v7';

function validateUrl(v: string): string | undefined {
  if (v === '') return undefined;
  try {
    const u = new URL(v);
    if (u.username || u.password) return 'must not contain credentials; use --schema-registry-user and --schema-registry-password-file';
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : `"${v}" must be an http(s) URL`;
  } catch {
    return `"${v}" is not a URL (expected e.g. ${DEFAULT_LOCAL_REGISTRY_URL})`;
  }
}

/**
 * The apps' registry options. The URL defaults to the local registry: it is
 * contacted only when a binary message (or --format avro|protobuf) needs a
 * schema, so JSON-only traffic never touches it; an empty value turns the
 * registry off (binary messages are then unknown_schema).
 */
export const SCHEMA_REGISTRY_OPTIONS = {
  schemaRegistryUrl: {
    type: 'string',
    env: 'SCHEMA_REGISTRY_URL',
    default: DEFAULT_LOCAL_REGISTRY_URL,
    validate: validateUrl,
    description:
      "Confluent-compatible schema registry REST API (Confluent, Redpanda, Apicurio's /apis/ccompat/v7, Karapace) where Avro and Protobuf schemas are read and registered; asked only when a binary message or --format needs it; empty: none.",
  },
  schemaRegistryUser: { type: 'string', env: 'SCHEMA_REGISTRY_USER', description: 'Basic-auth user of the schema registry (Confluent Cloud: the API key).' },
  schemaRegistryPassword: { type: 'string', env: 'SCHEMA_REGISTRY_PASSWORD', description: 'Basic-auth password of the schema registry; prefer --schema-registry-password-file. Never logged.' },
  schemaRegistryPasswordFile: { type: 'string', env: 'SCHEMA_REGISTRY_PASSWORD_FILE', description: 'File holding the schema registry password (read once at start; e.g. a mounted Kubernetes Secret).' },
  schemaRegistryCaCert: { type: 'string', env: 'SCHEMA_REGISTRY_CA_CERT', description: 'PEM file of the CA that signed the registry\u2019s certificate, for an https:// URL (default: the system trust store).' },
} as const satisfies OptionSpecs;

/** The format an app writes (readers accept all three on one topic). */
export const EVENT_FORMAT_OPTION = {
  format: {
    type: 'string',
    env: 'EVENT_FORMAT',
    default: 'json',
    choices: WIRE_FORMATS,
    description: 'Wire format written: json (one JSON object per message), avro or protobuf (Confluent wire format, schema from the registry; needs SCHEMA_REGISTRY_URL).',
  },
} as const satisfies OptionSpecs;

export interface SchemaRegistryOptions {
  schemaRegistryUrl: string;
  schemaRegistryUser?: string;
  schemaRegistryPassword?: string;
  schemaRegistryPasswordFile?: string;
  schemaRegistryCaCert?: string;
}

/** A validated registry connection; `toJSON` leaves the password out. */
export interface RegistryConnection {
  url: string;
  username?: string;
  password?: string;
  caCert?: Buffer;
}

export function describeConnection(c: RegistryConnection): string {
  return `${c.url}${c.username ? ` (user ${c.username})` : ''}`;
}

/** Validates the options and reads the files; undefined without a URL. Throws an Error naming the option at fault. */
export function resolveRegistryConnection(o: SchemaRegistryOptions, format: WireFormat = 'json'): RegistryConnection | undefined {
  if (o.schemaRegistryUrl === '') {
    if (format !== 'json') throw new Error(`--format ${format} needs a schema registry: set SCHEMA_REGISTRY_URL (e.g. ${DEFAULT_LOCAL_REGISTRY_URL}).`);
    return undefined;
  }
  if (o.schemaRegistryPassword !== undefined && o.schemaRegistryPasswordFile !== undefined) {
    throw new Error('Give the schema registry password either directly (SCHEMA_REGISTRY_PASSWORD) or as a file (SCHEMA_REGISTRY_PASSWORD_FILE), not both.');
  }
  const password = o.schemaRegistryPasswordFile !== undefined ? readSecretFile(o.schemaRegistryPasswordFile, '--schema-registry-password-file') : o.schemaRegistryPassword;
  if (password !== undefined && o.schemaRegistryUser === undefined) throw new Error('A schema registry password needs --schema-registry-user (SCHEMA_REGISTRY_USER).');
  let caCert: Buffer | undefined;
  if (o.schemaRegistryCaCert !== undefined) {
    if (!o.schemaRegistryUrl.startsWith('https:')) throw new Error(`--schema-registry-ca-cert needs an https:// --schema-registry-url (SCHEMA_REGISTRY_URL is ${o.schemaRegistryUrl}).`);
    try {
      caCert = fs.readFileSync(o.schemaRegistryCaCert);
    } catch (err) {
      throw new Error(`Cannot read --schema-registry-ca-cert ${o.schemaRegistryCaCert}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
    }
  }
  const conn: RegistryConnection = { url: o.schemaRegistryUrl.replace(/\/+$/, ''), ...(o.schemaRegistryUser === undefined ? {} : { username: o.schemaRegistryUser }), ...(caCert ? { caCert } : {}) };
  // The password is kept off enumerable properties: a logged connection never shows it.
  Object.defineProperty(conn, 'password', { value: password, enumerable: false });
  return conn;
}

/** {@link resolveRegistryConnection} for a parsed command config: failures are usage errors (exit 2). */
export function registryConnection(o: SchemaRegistryOptions, spec: CommandSpec<OptionSpecs>, format: WireFormat = 'json'): RegistryConnection | undefined {
  try {
    return resolveRegistryConnection(o, format);
  } catch (err) {
    throw new UsageError((err as Error).message, formatUsage(spec));
  }
}
