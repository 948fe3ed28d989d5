/**
 * The event's subjects in the registry, as code: which schema goes under
 * which subject (subjectFor in event-schema), with which compatibility level,
 * shown as a diff against what the registry holds and applied idempotently
 * (the topics tool does this beside the topics and ACLs). And the writers'
 * side: an encoder for a format, under the id the registry gives its schema.
 */
import { REGISTRY_SCHEMA_TYPE, createEventEncoder, schemaTextFor, subjectFor, type BinaryFormat, type EventEncoder, type RegistrySchema } from '@stream-analytics/event-schema';
import { backoffDelayMs } from '@stream-analytics/runtime';
import { createSchemaRegistry, RegistryUnavailableError, type CompatibilityLevel, type SchemaRegistry } from './client';
import type { RegistryConnection } from './options';

export const DEFAULT_COMPATIBILITY: CompatibilityLevel = 'BACKWARD';

export interface SubjectSpec {
  subject: string;
  format: BinaryFormat;
  schema: RegistrySchema;
  compatibility: CompatibilityLevel;
}

export const schemaOf = (format: BinaryFormat, version: 1 | 2 = 1): RegistrySchema => ({ schemaType: REGISTRY_SCHEMA_TYPE[format], schema: schemaTextFor(format, version) });

/** The subjects the raw topic needs: the event's Avro and Protobuf schemas. */
export function eventSubjects(topic: string, compatibility: CompatibilityLevel = DEFAULT_COMPATIBILITY, version: 1 | 2 = 1): SubjectSpec[] {
  return (['avro', 'protobuf'] as const).map((format) => ({ subject: subjectFor(topic, format), format, schema: schemaOf(format, version), compatibility }));
}

export type SubjectChange = { kind: 'create'; spec: SubjectSpec } | { kind: 'add_version'; spec: SubjectSpec; latestVersion: number } | { kind: 'set_compatibility'; spec: SubjectSpec; from: CompatibilityLevel | undefined };

/** What applying `specs` would change in the registry (nothing when it already holds them). */
export async function planSubjects(registry: SchemaRegistry, specs: readonly SubjectSpec[]): Promise<SubjectChange[]> {
  const changes: SubjectChange[] = [];
  for (const spec of specs) {
    const level = await registry.compatibility(spec.subject);
    if (level !== spec.compatibility) changes.push({ kind: 'set_compatibility', spec, from: level });
    const latest = await registry.latest(spec.subject);
    if (latest === undefined) changes.push({ kind: 'create', spec });
    else if ((await registry.lookup(spec.subject, spec.schema)) === undefined) changes.push({ kind: 'add_version', spec, latestVersion: latest.version });
  }
  return changes;
}

/** One line per change, like the topics' and ACLs' diff. */
export function describeSubjectChange(c: SubjectChange): string {
  switch (c.kind) {
    case 'create':
      return `+ subject ${c.spec.subject} (${c.spec.format}, ${c.spec.compatibility})`;
    case 'add_version':
      return `~ subject ${c.spec.subject}: new schema version after ${c.latestVersion} (checked ${c.spec.compatibility} by the registry)`;
    case 'set_compatibility':
      return `~ subject ${c.spec.subject}: compatibility ${c.from ?? '(registry default)'} -> ${c.spec.compatibility}`;
  }
}

/** The subjects' section of a plan, as the topics tool prints it. */
export function formatSubjectPlan(specs: readonly SubjectSpec[], changes: readonly SubjectChange[]): string {
  const lines = ['Schema registry subjects:'];
  for (const c of changes) lines.push(`  ${describeSubjectChange(c)}`);
  if (changes.length === 0) lines.push(`  = ${specs.length} subjects as wanted (${specs.map((s) => s.subject).join(', ')}), no change`);
  return lines.join('\n');
}

/** Applies the changes: the compatibility level first, so the registration is checked under it. Idempotent. */
export async function applySubjects(registry: SchemaRegistry, changes: readonly SubjectChange[]): Promise<void> {
  for (const c of changes) if (c.kind === 'set_compatibility') await registry.setCompatibility(c.spec.subject, c.spec.compatibility);
  for (const c of changes) if (c.kind !== 'set_compatibility') await registry.register(c.spec.subject, c.spec.schema);
}

/**
 * An encoder for `format` on `topic`: the schema of `version` registered
 * under its subject (idempotent, as Confluent's serializers auto-register),
 * written with the id the registry gives it.
 */
export async function registeredEncoder(registry: SchemaRegistry, topic: string, format: BinaryFormat, version: 1 | 2 = 1): Promise<EventEncoder> {
  const id = await registry.register(subjectFor(topic, format), schemaOf(format, version));
  return createEventEncoder(format, id, version);
}

export interface EncoderStartOptions {
  /** Called before each wait while the registry does not answer. */
  onRetry?: (err: Error, attempt: number, delayMs: number) => void;
  /** Gives up (rethrows) once this says so, e.g. when a signal asked the app to stop. */
  shouldStop?: () => boolean;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The writers' start: the encoder of --format avro|protobuf, its schema
 * registered under the topic's subject. An unreachable registry is reported
 * (onRetry) and retried with backoff until it answers or shouldStop(); a
 * refused schema (IncompatibleSchemaError) is thrown at once.
 */
export async function startEncoder(connection: RegistryConnection, topic: string, format: BinaryFormat, version: 1 | 2 = 1, opts: EncoderStartOptions = {}): Promise<EventEncoder> {
  const registry = createSchemaRegistry(connection);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await registeredEncoder(registry, topic, format, version);
      } catch (err) {
        if (!(err instanceof RegistryUnavailableError) || opts.shouldStop?.()) throw err;
        const delay = backoffDelayMs(attempt, { initialDelayMs: 500, maxDelayMs: 10_000 });
        opts.onRetry?.(err, attempt, delay);
        await sleep(delay);
      }
    }
  } finally {
    registry.close();
  }
}
