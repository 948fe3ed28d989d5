/**
 * The topic profiles (the contract in libs/runtime/src/lib/topics.json): what the three topics look like in
 * development and in production. The tool makes a cluster match one of them.
 */
import { DEFAULT_TOPICS, TOPIC_CONTRACT, type TopicProfileName, type TopicRole } from '@stream-analytics/runtime';

export type { TopicRole };
export type ProfileName = TopicProfileName;

export interface TopicSpec {
  role: TopicRole;
  name: string;
  partitions: number;
  replicationFactor: number;
  /** Topic-level configs the tool pins (set on the topic itself). */
  configs: Record<string, string>;
}

export interface Profile {
  name: ProfileName;
  description: string;
  topics: TopicSpec[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const RETENTION_DAYS: Record<TopicRole, number> = {
  raw: TOPIC_CONTRACT.topics.raw.retentionDays,
  aggregate: TOPIC_CONTRACT.topics.aggregate.retentionDays,
  deadLetter: TOPIC_CONTRACT.topics.deadLetter.retentionDays,
};

export const PROFILE_SHAPES = TOPIC_CONTRACT.profiles;

export type TopicNames = Record<TopicRole, string>;

export const DEFAULT_TOPIC_NAMES: TopicNames = {
  raw: DEFAULT_TOPICS.raw,
  aggregate: DEFAULT_TOPICS.aggregate,
  deadLetter: DEFAULT_TOPICS.deadLetter,
};

export function profile(name: ProfileName, names: TopicNames = DEFAULT_TOPIC_NAMES): Profile {
  const shape = PROFILE_SHAPES[name];
  const roles: TopicRole[] = ['raw', 'aggregate', 'deadLetter'];
  return {
    name,
    description: shape.description,
    topics: roles.map((role) => ({
      role,
      name: names[role],
      partitions: shape.partitions[role],
      replicationFactor: shape.replicationFactor,
      configs: {
        'cleanup.policy': 'delete',
        'retention.ms': String(RETENTION_DAYS[role] * DAY_MS),
        'min.insync.replicas': String(shape.minInsyncReplicas),
      },
    })),
  };
}

/** "604800000" -> "7 d" for the diff, other values unchanged. */
export function describeValue(key: string, value: string | undefined): string {
  if (value === undefined) return '(unset)';
  if (key.endsWith('.ms') && /^\d+$/.test(value)) {
    const ms = Number(value);
    if (ms > 0 && ms % DAY_MS === 0) return `${value} (${ms / DAY_MS} d)`;
    if (ms > 0 && ms % 3600000 === 0) return `${value} (${ms / 3600000} h)`;
  }
  return value;
}
