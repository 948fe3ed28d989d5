/**
 * Reads the topics' and ACLs' state from a cluster and applies a plan, through
 * maintained clients only: topic creation, partition growth and topic
 * descriptions go through librdkafka's AdminClient; configs, replica
 * reassignment and ACLs, which the binding does not expose, through KafkaJS.
 * Both take the same security settings (libs/runtime kafka-security).
 */
import Kafka from '@confluentinc/kafka-javascript';
import { baseKafkaConfig, describeKafkaSecurityError, KafkaSecurity, KafkaSecurityError } from '@stream-analytics/runtime';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ConfigResourceTypes,
  Kafka as KafkaJs,
  logLevel,
  ResourcePatternTypes,
  type Admin as KafkaJsAdmin,
  type KafkaConfig,
} from 'kafkajs';
import type { AclBinding, AclOperation, AclPattern, AclPlan, AclResource } from './acls';
import { planChanges, planReassignment, replicationFactorOf, TOPIC_CONFIG_SOURCE, type ActualTopic, type Plan } from './plan';

type NativeAdmin = ReturnType<typeof Kafka.AdminClient.create>;

export interface ClusterState {
  brokerIds: number[];
  topics: Map<string, ActualTopic>;
}

const UNKNOWN_TOPIC = Kafka.CODES.ERRORS.ERR_UNKNOWN_TOPIC_OR_PART;

const RESOURCE: Record<AclResource, AclResourceTypes> = { topic: AclResourceTypes.TOPIC, group: AclResourceTypes.GROUP, transactionalId: AclResourceTypes.TRANSACTIONAL_ID };
const PATTERN: Record<AclPattern, ResourcePatternTypes> = { literal: ResourcePatternTypes.LITERAL, prefixed: ResourcePatternTypes.PREFIXED };
const OPERATION: Record<AclOperation, AclOperationTypes> = { read: AclOperationTypes.READ, write: AclOperationTypes.WRITE, describe: AclOperationTypes.DESCRIBE, create: AclOperationTypes.CREATE };
const reverse = <K extends string, V>(m: Record<K, V>) => new Map([...Object.entries(m)].map(([k, v]) => [v as V, k as K]));
const RESOURCE_NAME = reverse(RESOURCE);
const PATTERN_NAME = reverse(PATTERN);
const OPERATION_NAME = reverse(OPERATION);

export class TopicAdmin {
  private readonly native: NativeAdmin;
  private readonly kafkaJs: KafkaJsAdmin;
  private connected: Promise<void> | undefined;

  constructor(
    readonly brokers: string,
    private readonly timeoutMs = 30000,
    private readonly security: KafkaSecurity = KafkaSecurity.plaintext,
  ) {
    this.native = Kafka.AdminClient.create(baseKafkaConfig({ brokers, clientId: 'provision-topics', security }) as Kafka.GlobalConfig);
    this.kafkaJs = new KafkaJs({
      brokers: brokers.split(',').map((b) => b.trim()),
      clientId: 'provision-topics',
      logLevel: logLevel.NOTHING,
      connectionTimeout: 10000,
      requestTimeout: timeoutMs,
      retry: { retries: 3 },
      ...(security.kafkaJsConfig() as Pick<KafkaConfig, 'ssl' | 'sasl'>),
    }).admin();
  }

  private jsAdmin(): Promise<KafkaJsAdmin> {
    // Rejected credentials or certificates: the same one sentence as every other client.
    if (!this.connected) {
      this.connected = this.kafkaJs.connect().catch((err: Error) => {
        const sentence = describeKafkaSecurityError(err, this.brokers, this.security);
        throw sentence ? new KafkaSecurityError(sentence) : err;
      });
    }
    return this.connected.then(() => this.kafkaJs);
  }

  async close(): Promise<void> {
    this.native.disconnect();
    if (this.connected) await this.kafkaJs.disconnect();
  }

  private describeTopics(names: string[]): Promise<Kafka.TopicDescription[]> {
    return new Promise((resolve, reject) =>
      this.native.describeTopics(names, { timeout: this.timeoutMs }, (err, result) => {
        if (!err) return resolve(result);
        // A missing topic fails the whole call on some client versions.
        if (err.code === UNKNOWN_TOPIC && names.length > 1) {
          Promise.all(names.map((n) => this.describeTopics([n]).catch(() => [] as Kafka.TopicDescription[]))).then((parts) => resolve(parts.flat()), reject);
        } else if (err.code === UNKNOWN_TOPIC) resolve([]);
        else reject(new Error(`describeTopics: ${err.message}`));
      }),
    );
  }

  /** Broker ids of the cluster, as the brokers register them. */
  async brokerIds(): Promise<number[]> {
    const cluster = await (await this.jsAdmin()).describeCluster();
    return cluster.brokers.map((b) => b.nodeId).sort((a, b) => a - b);
  }

  private async topicConfigs(names: string[]): Promise<Map<string, Array<{ name: string; value: string | null; source: number }>>> {
    const admin = await this.jsAdmin();
    const res = await admin.describeConfigs({ resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })), includeSynonyms: false });
    return new Map(res.resources.map((r) => [r.resourceName, r.configEntries.map((e) => ({ name: e.configName, value: e.configValue, source: Number(e.configSource) }))]));
  }

  async readState(names: string[]): Promise<ClusterState> {
    const brokerIds = await this.brokerIds();
    const descriptions = await this.describeTopics(names);
    const present = descriptions.filter((d) => !d.error && d.partitions.length > 0);
    const configs = present.length ? await this.topicConfigs(present.map((d) => d.name)) : new Map();
    const topics = new Map<string, ActualTopic>();
    for (const d of present) {
      const parts = [...d.partitions].sort((a, b) => a.partition - b.partition);
      topics.set(d.name, {
        name: d.name,
        replicas: parts.map((p) => p.replicas.map((r) => r.id)),
        isr: parts.map((p) => p.isr.map((r) => r.id)),
        configs: new Map<string, { value: string | null; source: number }>((configs.get(d.name) ?? []).map((c: { name: string; value: string | null; source: number }) => [c.name, { value: c.value, source: c.source }])),
      });
    }
    return { brokerIds, topics };
  }

  private createTopic(spec: { name: string; partitions: number; replicationFactor: number; configs: Record<string, string> }): Promise<void> {
    return new Promise((resolve, reject) =>
      this.native.createTopic(
        { topic: spec.name, num_partitions: spec.partitions, replication_factor: spec.replicationFactor, config: spec.configs },
        this.timeoutMs,
        (err) => (err ? reject(new Error(`creating ${spec.name}: ${err.message}`)) : resolve()),
      ),
    );
  }

  private createPartitions(topic: string, total: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.native.createPartitions(topic, total, this.timeoutMs, (err) => (err ? reject(new Error(`adding partitions to ${topic}: ${err.message}`)) : resolve())),
    );
  }

  /**
   * Sets topic configs. AlterConfigs (what KafkaJS offers) replaces a topic's
   * whole set of topic-level configs, so the ones already set on the topic are
   * sent along unchanged.
   */
  private async setTopicConfigs(changes: Map<string, Record<string, string>>): Promise<void> {
    const current = await this.topicConfigs([...changes.keys()]);
    const admin = await this.jsAdmin();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [...changes].map(([name, set]) => {
        const kept = Object.fromEntries((current.get(name) ?? []).filter((c) => c.source === TOPIC_CONFIG_SOURCE && c.value !== null).map((c) => [c.name, c.value as string]));
        return { type: ConfigResourceTypes.TOPIC, name, configEntries: Object.entries({ ...kept, ...set }).map(([n, value]) => ({ name: n, value })) };
      }),
    });
  }

  /**
   * Applies the plan in a safe order: create topics, add partitions, raise
   * replication factors (and wait until the new replicas are in sync), then
   * pin configs (min.insync.replicas only once the replicas exist).
   */
  async apply(plan: Plan, log: (line: string) => void, opts: { reassignmentTimeoutMs?: number } = {}): Promise<void> {
    const changes = planChanges(plan);
    for (const c of changes) {
      if (c.kind !== 'create') continue;
      await this.createTopic({ name: c.spec.name, partitions: c.spec.partitions, replicationFactor: c.spec.replicationFactor, configs: c.spec.configs });
      log(`created ${c.topic}`);
    }
    for (const c of changes) {
      if (c.kind !== 'partitions') continue;
      await this.createPartitions(c.topic, c.to);
      log(`${c.topic}: partitions ${c.from} -> ${c.to}`);
    }
    const rfChanges = changes.filter((c) => c.kind === 'replication');
    if (rfChanges.length) {
      await this.waitFor('new partitions to appear', async () => {
        const s = await this.readState(rfChanges.map((c) => c.topic));
        return rfChanges.every((c) => (s.topics.get(c.topic)?.replicas.length ?? 0) >= plan.topics.find((t) => t.spec.name === c.topic)!.spec.partitions);
      });
      const state = await this.readState(rfChanges.map((c) => c.topic));
      const topics = rfChanges.map((c) => {
        const t = state.topics.get(c.topic)!;
        const moves = planReassignment(t.replicas, c.to, state.brokerIds);
        return { topic: c.topic, partitionAssignment: [...moves].map(([partition, replicas]) => ({ partition, replicas })) };
      });
      const admin = await this.jsAdmin();
      await admin.alterPartitionReassignments({ topics, timeout: this.timeoutMs });
      const moved = topics.reduce((n, t) => n + t.partitionAssignment.length, 0);
      log(`reassigning ${moved} partitions to raise the replication factor; waiting for the new replicas to catch up`);
      await this.waitFor(
        'the replica reassignment to finish',
        async () => {
          const ongoing = await admin.listPartitionReassignments({ timeout: this.timeoutMs });
          if (ongoing.topics.some((t) => rfChanges.some((c) => c.topic === t.topic))) return false;
          const s = await this.readState(rfChanges.map((c) => c.topic));
          return rfChanges.every((c) => {
            const t = s.topics.get(c.topic);
            return !!t && replicationFactorOf(t) >= c.to && t.isr.every((isr, p) => isr.length >= t.replicas[p].length);
          });
        },
        opts.reassignmentTimeoutMs ?? 600000,
      );
      for (const c of rfChanges) log(`${c.topic}: replication factor ${c.from} -> ${c.to}`);
    }
    const configChanges = new Map<string, Record<string, string>>();
    for (const c of changes) {
      if (c.kind !== 'config') continue;
      configChanges.set(c.topic, { ...configChanges.get(c.topic), [c.key]: c.to });
    }
    if (configChanges.size) {
      await this.setTopicConfigs(configChanges);
      for (const [topic, set] of configChanges) log(`${topic}: set ${Object.entries(set).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    }
  }

  /** ALLOW bindings for any host, of every principal (the cluster needs an authorizer). */
  async readAcls(): Promise<AclBinding[]> {
    const admin = await this.jsAdmin();
    const res = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ALLOW,
    });
    const out: AclBinding[] = [];
    for (const r of res.resources) {
      const resource = RESOURCE_NAME.get(r.resourceType);
      const pattern = PATTERN_NAME.get(r.resourcePatternType);
      for (const a of r.acls) {
        const operation = OPERATION_NAME.get(a.operation);
        // Bindings this tool never writes (other operations, hosts) are left out of the diff.
        if (resource && pattern && operation && a.host === '*') out.push({ principal: a.principal, resource, name: r.resourceName, pattern, operation });
      }
    }
    return out;
  }

  async applyAcls(plan: AclPlan): Promise<void> {
    const admin = await this.jsAdmin();
    const entry = (b: AclBinding) => ({
      resourceType: RESOURCE[b.resource],
      resourceName: b.name,
      resourcePatternType: PATTERN[b.pattern],
      principal: b.principal,
      host: '*',
      operation: OPERATION[b.operation],
      permissionType: AclPermissionTypes.ALLOW,
    });
    if (plan.add.length) await admin.createAcls({ acl: plan.add.map(entry) });
    if (plan.remove.length) await admin.deleteAcls({ filters: plan.remove.map(entry) });
  }

  private async waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 60000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; run the tool again to resume (it only applies what is still missing)`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
