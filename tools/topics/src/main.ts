/**
 * provision-topics: creates or updates the three pipeline topics from a
 * profile (dev or prod). Shows the diff, refuses unsafe changes, applies the
 * rest, and verifies the result; a second run changes nothing.
 *
 * Exit codes: 0 done (or nothing to do, or --dry-run), 1 error,
 * 2 usage error, 3 refused (unsafe change requested; nothing applied).
 */
import { DEFAULT_BROKERS, parseConfig, runMain, validateBrokers, type CommandSpec, type OptionSpecs } from '@stream-analytics/runtime';
import { TopicAdmin } from './lib/cluster';
import { formatPlan, planChanges, planRefusals, planTopics } from './lib/plan';
import { DEFAULT_TOPIC_NAMES, profile, type ProfileName } from './lib/profiles';

export const provisionCommand = {
  name: 'provision-topics',
  summary:
    'Creates or updates the raw, aggregate and dead-letter topics to match a profile: dev (RF 1, 24 raw partitions) or prod (RF 3, min.insync.replicas 2, 48 raw partitions); retention 7 d raw, 30 d aggregate, 14 d DLQ. Prints the diff first; never removes partitions or lowers the replication factor.',
  options: {
    profile: { type: 'string', choices: ['dev', 'prod'], env: 'TOPIC_PROFILE', default: 'dev', description: 'Topic profile to apply.' },
    brokers: { type: 'string', env: 'KAFKA_BROKERS', default: DEFAULT_BROKERS, validate: validateBrokers, description: 'Kafka bootstrap servers.' },
    rawTopic: { type: 'string', env: 'RAW_TOPIC', default: DEFAULT_TOPIC_NAMES.raw, description: 'Raw telemetry topic name.' },
    aggTopic: { type: 'string', env: 'AGG_TOPIC', default: DEFAULT_TOPIC_NAMES.aggregate, description: 'Minute aggregate topic name.' },
    dlqTopic: { type: 'string', env: 'DLQ_TOPIC', default: DEFAULT_TOPIC_NAMES.deadLetter, description: 'Dead-letter topic name.' },
    dryRun: { type: 'boolean', default: false, description: 'Print the diff only; change nothing.' },
    timeoutSecs: { type: 'integer', env: 'PROVISION_TIMEOUT_SECS', default: 600, min: 1, description: 'Longest wait for replica reassignments to finish.' },
  },
  epilogue: [
    'Exit codes: 0 done or nothing to do, 1 error, 2 usage error, 3 unsafe change refused (nothing applied).',
    '',
    'Examples:',
    '  provision-topics --profile dev --brokers 127.0.0.1:9092 --dry-run',
    '  KAFKA_BROKERS=redpanda-0:9092,redpanda-1:9092,redpanda-2:9092 provision-topics --profile prod',
    '  npx nx run topics:provision-topics --profile dev',
  ].join('\n'),
} satisfies CommandSpec<OptionSpecs>;

export const EXIT_REFUSED = 3;

runMain(async () => {
  const { config } = parseConfig(provisionCommand, process.argv.slice(2));
  const wanted = profile(config.profile as ProfileName, { raw: config.rawTopic, aggregate: config.aggTopic, deadLetter: config.dlqTopic });
  const names = wanted.topics.map((t) => t.name);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const admin = new TopicAdmin(config.brokers);
  try {
    const state = await admin.readState(names);
    const plan = planTopics(wanted, state.topics, state.brokerIds);
    say(formatPlan(plan));
    if (planRefusals(plan).length) {
      process.stderr.write(`refused: the ${wanted.name} profile asks for changes that are unsafe on this cluster (lines marked "!" above); nothing was changed.\n`);
      return EXIT_REFUSED;
    }
    if (planChanges(plan).length === 0 || config.dryRun) {
      if (config.dryRun && planChanges(plan).length) say('Dry run: nothing applied.');
      return 0;
    }
    await admin.apply(plan, (line) => say(`  applied: ${line}`), { reassignmentTimeoutMs: config.timeoutSecs * 1000 });
    // Verify: the cluster must now match the profile exactly.
    // Metadata reaches every broker within moments; allow for that.
    let left = planChanges(plan);
    for (let attempt = 0; attempt < 20 && left.length; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 500));
      const after = await admin.readState(names);
      left = planChanges(planTopics(wanted, after.topics, after.brokerIds));
    }
    if (left.length) throw new Error(`after applying, ${left.length} change(s) are still pending: ${left.map((c) => `${c.topic} ${c.kind}`).join(', ')}`);
    say(`Done: the cluster matches the ${wanted.name} profile.`);
    return 0;
  } finally {
    admin.close();
  }
});
