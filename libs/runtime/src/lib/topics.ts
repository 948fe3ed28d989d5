import TOPIC_CONTRACT from './topics.json';

export type TopicRole = keyof typeof TOPIC_CONTRACT.topics;
export type TopicProfileName = keyof typeof TOPIC_CONTRACT.profiles;

/** The topic contract: names, their environment variables, retention and the dev/prod profiles (topics.json, also read by tools/stack). */
export { TOPIC_CONTRACT };

/** Names fixed by the design contract; overridable through the shared environment names. */
export const DEFAULT_TOPICS = {
  raw: TOPIC_CONTRACT.topics.raw.name,
  aggregate: TOPIC_CONTRACT.topics.aggregate.name,
  deadLetter: TOPIC_CONTRACT.topics.deadLetter.name,
} as const;

export const DEFAULT_BROKERS = '127.0.0.1:9092';
export const DEFAULT_CLICKHOUSE_URL = 'http://127.0.0.1:8123';
