/**
 * Markdown rendered from the schema and the reason codes; the README embeds
 * these tables between markers and a unit test keeps them in sync.
 */
import { MALFORMED_REASONS, REPAIRABLE_KINDS, type MalformedKind } from './generator';
import { BEYOND_RETENTION, BINARY_FORMAT_REASONS, FUTURE_EVENT_TIME, LATE_EVENT, REASON_CODES, type ReasonCode } from './reasons';
import { TELEMETRY_EVENT_SCHEMA } from './schema';

const cell = (text: string) => text.replace(/\|/g, '\\|');

interface PropertyDoc {
  type: string;
  description: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
  enum?: readonly string[];
}

function constraints(p: PropertyDoc): string {
  const parts: string[] = [];
  if (p.enum) parts.push(`one of ${p.enum.map((v) => `\`${v}\``).join(', ')}`);
  if (p.minLength !== undefined && p.minLength === p.maxLength) parts.push(`exactly ${p.minLength} chars`);
  else if (p.minLength !== undefined || p.maxLength !== undefined) parts.push(`${p.minLength ?? 0}-${p.maxLength ?? '∞'} chars`);
  if (p.minimum !== undefined || p.maximum !== undefined) parts.push(`[${p.minimum ?? '-∞'}, ${p.maximum ?? '∞'}], finite`);
  if (p.pattern) parts.push(`pattern \`${p.pattern}\``);
  if (p.format) parts.push(`format \`${p.format}\``);
  return parts.join('; ');
}

/** Markdown table of the event fields: name, type, constraints, meaning. */
export function renderFieldTable(): string {
  const required = new Set<string>(TELEMETRY_EVENT_SCHEMA.required);
  const rows = Object.entries(TELEMETRY_EVENT_SCHEMA.properties as Record<string, PropertyDoc>).map(
    ([name, p]) => `| \`${name}\` | ${p.type}${required.has(name) ? ', required' : ''} | ${cell(constraints(p))} | ${cell(p.description)} |`,
  );
  return ['| field | type | constraints | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** Markdown table of the DLQ reason codes, with the generator's fault kinds that produce each. */
export function renderReasonTable(): string {
  const kindsFor = (reason: ReasonCode) =>
    (Object.entries(MALFORMED_REASONS) as Array<[MalformedKind, ReasonCode]>)
      .filter(([, r]) => r === reason)
      .map(([k]) => `\`${k}\`${REPAIRABLE_KINDS.includes(k) ? ' (repairable)' : ''}`)
      .join(', ');
  const rows = (Object.entries(REASON_CODES) as Array<[ReasonCode, string]>).map(
    ([code, meaning]) => `| \`${code}\` | ${cell(meaning)} | ${kindsFor(code) || (code === LATE_EVENT ? 'fault `late` (assigned by the aggregator)' : code === FUTURE_EVENT_TIME || code === BEYOND_RETENTION ? 'assigned by the aggregator' : BINARY_FORMAT_REASONS.includes(code) ? 'binary formats (assigned by the decoder)' : '')} |`,
  );
  return ['| reason | meaning | generator fault kinds |', '| --- | --- | --- |', ...rows].join('\n');
}
