/**
 * The Kafka flags every app and tool that talks to the broker declares: the
 * bootstrap servers with the security options, and the contract's topics
 * (name and environment variable from the topic contract, topics.json).
 */
import type { OptionSpecs } from './config';
import { validateBrokers } from './kafka-config';
import { KAFKA_SECURITY_OPTIONS } from './kafka-security';
import { DEFAULT_BROKERS, TOPIC_CONTRACT, type TopicRole } from './topics';

export const KAFKA_CONNECTION_OPTIONS = {
  brokers: { type: 'string', env: 'KAFKA_BROKERS', default: DEFAULT_BROKERS, validate: validateBrokers, description: 'Kafka bootstrap servers, host:port[,host:port].' },
  ...KAFKA_SECURITY_OPTIONS,
} as const satisfies OptionSpecs;

const nonEmpty = (v: string) => (v.trim() ? undefined : 'must not be empty');

/** The flag naming one of the contract's topics; `description` says what this app does with it. */
export function topicOption(role: TopicRole, description: string): { type: 'string'; env: string; default: string; validate: (v: string) => string | undefined; description: string } {
  const t = TOPIC_CONTRACT.topics[role];
  return { type: 'string', env: t.env, default: t.name, validate: nonEmpty, description };
}
