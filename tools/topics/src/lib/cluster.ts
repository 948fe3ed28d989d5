/**
 * Reads the topics' state from a cluster and applies a plan. Topic creation,
 * partition growth and topic descriptions go through librdkafka's
 * AdminClient; configs and replica reassignment through the wire client
 * (the binding does not expose those admin APIs).
 */
import Kafka from '@confluentinc/kafka-javascript';
import { WireAdmin, type ConfigEntry } from './kafka-wire';
import { planChanges, planReassignment, replicationFactorOf, type ActualTopic, type Plan } from './plan';

type NativeAdmin = ReturnType<typeof Kafka.AdminClient.create>;

export interface ClusterState {
  brokerIds: number[];
  topics: Map<string, ActualTopic>;
}

const UNKNOWN_TOPIC = Kafka.CODES.ERRORS.ERR_UNKNOWN_TOPIC_OR_PART;

export class TopicAdmin {
  private readonly native: NativeAdmin;
  readonly wire: WireAdmin;

  constructor(
    readonly brokers: string,
    private readonly timeoutMs = 30000,
  ) {
    this.native = Kafka.AdminClient.create({
      'bootstrap.servers': brokers,
      'client.id': 'provision-topics',
      'socket.connection.setup.timeout.ms': 10000,
      'log.connection.close': false,
    });
    this.wire = new WireAdmin(brokers, timeoutMs);
  }

  close(): void {
    this.native.disconnect();
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

  async readState(names: string[]): Promise<ClusterState> {
    const meta = await this.wire.metadata([]);
    const descriptions = await this.describeTopics(names);
    const present = descriptions.filter((d) => !d.error && d.partitions.length > 0);
    const configs: Map<string, ConfigEntry[]> = present.length ? await this.wire.describeTopicConfigs(present.map((d) => d.name)) : new Map();
    const topics = new Map<string, ActualTopic>();
    for (const d of present) {
      const parts = [...d.partitions].sort((a, b) => a.partition - b.partition);
      topics.set(d.name, {
        name: d.name,
        replicas: parts.map((p) => p.replicas.map((r) => r.id)),
        isr: parts.map((p) => p.isr.map((r) => r.id)),
        configs: new Map((configs.get(d.name) ?? []).map((c) => [c.name, { value: c.value, source: c.source }])),
      });
    }
    return { brokerIds: meta.brokers.map((b) => b.id), topics };
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
      const reassign = new Map<string, Map<number, number[]>>();
      for (const c of rfChanges) {
        const t = state.topics.get(c.topic)!;
        reassign.set(c.topic, planReassignment(t.replicas, c.to, state.brokerIds));
      }
      await this.wire.alterPartitionReassignments(reassign);
      const moved = [...reassign.values()].reduce((n, m) => n + m.size, 0);
      log(`reassigning ${moved} partitions to raise the replication factor; waiting for the new replicas to catch up`);
      await this.waitFor(
        'the replica reassignment to finish',
        async () => {
          const ongoing = await this.wire.listPartitionReassignments(rfChanges.map((c) => c.topic));
          if (ongoing.length) return false;
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
    const configChanges = new Map<string, Array<{ name: string; op: 'set'; value: string }>>();
    for (const c of changes) {
      if (c.kind !== 'config') continue;
      configChanges.set(c.topic, [...(configChanges.get(c.topic) ?? []), { name: c.key, op: 'set', value: c.to }]);
    }
    if (configChanges.size) {
      await this.wire.alterTopicConfigs(configChanges);
      for (const [topic, list] of configChanges) log(`${topic}: set ${list.map((c) => `${c.name}=${c.value}`).join(', ')}`);
    }
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
