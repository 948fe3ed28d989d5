/**
 * provision-topics: creates or updates the three pipeline topics from a
 * profile (dev or prod), with --acls each app's least-privilege ACLs, and
 * with SCHEMA_REGISTRY_URL the raw topic's event schemas (Avro, Protobuf)
 * and their compatibility level.
 * Shows the diff, refuses unsafe changes, applies the rest, and verifies the
 * result; a second run changes nothing.
 *
 * Exit codes: 0 done (or nothing to do, or --dry-run), 1 error,
 * 2 usage error, 3 refused (unsafe change requested; nothing applied).
 */
import { KAFKA_CONNECTION_OPTIONS, parseConfig, parseKafkaSecurity, runMain, topicOption, type CommandSpec, type OptionSpecs } from '@stream-analytics/runtime';
import { DEFAULT_ACL_SETTINGS, formatAclPlan, planAcls, wantedAcls, type AclSettings } from './lib/acls';
import { TopicAdmin } from './lib/cluster';
import { formatPlan, planChanges, planRefusals, planTopics } from './lib/plan';
import { profile, type ProfileName } from './lib/profiles';
import {
  applySubjects,
  createSchemaRegistry,
  eventSubjects,
  formatSubjectPlan,
  IncompatibleSchemaError,
  planSubjects,
  registryConnection,
  SCHEMA_REGISTRY_OPTIONS,
  type CompatibilityLevel,
} from '@stream-analytics/schema-registry';

export const provisionCommand = {
  name: 'provision-topics',
  summary:
    'Creates or updates the raw, aggregate and dead-letter topics to match a profile: dev (RF 1, 24 raw partitions) or prod (RF 3, min.insync.replicas 2, 48 raw partitions); retention 7 d raw, 30 d aggregate, 14 d DLQ. Prints the diff first; never removes partitions or lowers the replication factor.',
  options: {
    profile: { type: 'string', choices: ['dev', 'prod'], env: 'TOPIC_PROFILE', default: 'dev', description: 'Topic profile to apply.' },
    ...KAFKA_CONNECTION_OPTIONS,
    rawTopic: topicOption('raw', 'Raw telemetry topic name.'),
    aggTopic: topicOption('aggregate', 'Minute aggregate topic name.'),
    dlqTopic: topicOption('deadLetter', 'Dead-letter topic name.'),
    acls: { type: 'boolean', env: 'TOPIC_ACLS', default: false, description: 'Also make the apps\u2019 ACLs match the profile (the cluster needs an authorizer); bindings of these principals that the profile does not grant are removed.' },
    producerPrincipal: { type: 'string', env: 'ACL_PRODUCER_PRINCIPAL', default: DEFAULT_ACL_SETTINGS.principals.producer, description: 'Principal of the producer (writes the raw topic).' },
    gatewayPrincipal: { type: 'string', env: 'ACL_GATEWAY_PRINCIPAL', default: DEFAULT_ACL_SETTINGS.principals.gateway, description: 'Principal of the ingest gateway (writes the raw topic).' },
    aggregatorPrincipal: { type: 'string', env: 'ACL_AGGREGATOR_PRINCIPAL', default: DEFAULT_ACL_SETTINGS.principals.aggregator, description: 'Principal of the aggregator.' },
    replayerPrincipal: { type: 'string', env: 'ACL_REPLAYER_PRINCIPAL', default: DEFAULT_ACL_SETTINGS.principals.replayer, description: 'Principal of the DLQ replayer.' },
    aggregatorGroup: { type: 'string', env: 'CONSUMER_GROUP', default: DEFAULT_ACL_SETTINGS.aggregatorGroup, description: 'Consumer group of the aggregator.' },
    replayerGroup: { type: 'string', env: 'REPLAYER_GROUP', default: DEFAULT_ACL_SETTINGS.replayerGroup, description: 'Consumer group of the replayer.' },
    ledgerTopic: { type: 'string', env: 'LEDGER_TOPIC', default: DEFAULT_ACL_SETTINGS.ledgerTopic, description: 'Ledger topic of the replayer.' },
    replayerTransactionalId: { type: 'string', env: 'REPLAYER_TRANSACTIONAL_ID', description: 'Transactional id of the replayer (default dlq-replayer.<ledger topic>, as the replayer picks it).' },
    ...SCHEMA_REGISTRY_OPTIONS,
    // The topics tool registers subjects only when asked to: no registry unless SCHEMA_REGISTRY_URL is given.
    schemaRegistryUrl: { ...SCHEMA_REGISTRY_OPTIONS.schemaRegistryUrl, default: '' },
    schemaCompatibility: {
      type: 'string',
      env: 'SCHEMA_COMPATIBILITY',
      default: 'BACKWARD',
      choices: ['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'],
      description: 'With SCHEMA_REGISTRY_URL: compatibility level of the raw topic\u2019s subjects (Avro and Protobuf event schemas), set before they are registered.',
    },
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
    '  KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_MECHANISM=SCRAM-SHA-512 KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka-admin provision-topics --profile prod --acls',
    '  SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7 provision-topics --profile dev   # also the event schemas (Avro, Protobuf), BACKWARD',
  ].join('\n'),
} satisfies CommandSpec<OptionSpecs>;

export const EXIT_REFUSED = 3;

runMain(async () => {
  const { config } = parseConfig(provisionCommand, process.argv.slice(2));
  const wanted = profile(config.profile as ProfileName, { raw: config.rawTopic, aggregate: config.aggTopic, deadLetter: config.dlqTopic });
  const names = wanted.topics.map((t) => t.name);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const security = parseKafkaSecurity(config, provisionCommand);
  const aclSettings: AclSettings = {
    principals: { producer: config.producerPrincipal, gateway: config.gatewayPrincipal, aggregator: config.aggregatorPrincipal, replayer: config.replayerPrincipal },
    aggregatorGroup: config.aggregatorGroup,
    replayerGroup: config.replayerGroup,
    ledgerTopic: config.ledgerTopic,
    replayerTransactionalId: config.replayerTransactionalId ?? `dlq-replayer.${config.ledgerTopic}`,
  };
  const registryConn = registryConnection(config, provisionCommand);
  const registry = registryConn ? createSchemaRegistry(registryConn) : undefined;
  const subjectSpecs = eventSubjects(config.rawTopic, config.schemaCompatibility as CompatibilityLevel);
  const admin = new TopicAdmin(config.brokers, 30000, security);
  try {
    const state = await admin.readState(names);
    const plan = planTopics(wanted, state.topics, state.brokerIds);
    say(formatPlan(plan));
    const wantedBindings = config.acls ? wantedAcls(wanted, aclSettings) : [];
    const aclPlan = config.acls ? planAcls(wantedBindings, await admin.readAcls()) : undefined;
    if (aclPlan) say(formatAclPlan(aclPlan));
    const subjectChanges = registry ? await planSubjects(registry, subjectSpecs) : [];
    if (registry) say(formatSubjectPlan(subjectSpecs, subjectChanges));
    if (planRefusals(plan).length) {
      process.stderr.write(`refused: the ${wanted.name} profile asks for changes that are unsafe on this cluster (lines marked "!" above); nothing was changed.\n`);
      return EXIT_REFUSED;
    }
    const aclChanges = aclPlan ? aclPlan.add.length + aclPlan.remove.length : 0;
    if ((planChanges(plan).length === 0 && aclChanges === 0 && subjectChanges.length === 0) || config.dryRun) {
      if (config.dryRun && (planChanges(plan).length || aclChanges || subjectChanges.length)) say('Dry run: nothing applied.');
      return 0;
    }
    if (registry && subjectChanges.length) {
      try {
        await applySubjects(registry, subjectChanges);
      } catch (err) {
        if (!(err instanceof IncompatibleSchemaError)) throw err;
        process.stderr.write(`refused: ${err.message}\n`);
        return EXIT_REFUSED;
      }
      const left = await planSubjects(registry, subjectSpecs);
      if (left.length) throw new Error(`after applying, ${left.length} subject change(s) are still pending`);
      say(`  applied: ${subjectChanges.length} subject change(s)`);
    }
    if (aclPlan && aclChanges) {
      await admin.applyAcls(aclPlan);
      say(`  applied: ${aclPlan.add.length} ACL binding(s) added, ${aclPlan.remove.length} removed`);
      const after = planAcls(wantedBindings, await admin.readAcls());
      if (after.add.length || after.remove.length) throw new Error(`after applying, ${after.add.length + after.remove.length} ACL change(s) are still pending`);
    }
    if (planChanges(plan).length === 0) {
      say(`Done: the cluster matches the ${wanted.name} profile.`);
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
    registry?.close();
    await admin.close();
  }
});
