// The stack's questions to Kafka (is it up, which topics exist) go through the project's Kafka
// client, librdkafka's binding, loaded from node_modules on first use: `npm start` and `npm test`
// run bootstrap (npm install) before they start the stack, and the commands that need no broker
// (status, down, jars, env) never load it.
import { createRequire } from 'node:module';
import { StackError } from './log.mjs';

const require = createRequire(import.meta.url);
let binding = null;

function rdkafka() {
  if (binding) return binding;
  try {
    binding = require('@confluentinc/kafka-javascript');
  } catch (err) {
    throw new StackError(`The Kafka client (@confluentinc/kafka-javascript) is not installed (${err.code ?? err.message}); run bash tools/run/bootstrap.sh (or npm install) first.`);
  }
  return binding;
}

/**
 * Cluster metadata ({brokers, topics: [{name, partitions}]}) from `brokers`, within timeoutMs.
 * `settings` adds librdkafka settings (the secured listener's TLS and SASL).
 */
export function metadata(brokers, timeoutMs = 5000, settings = {}) {
  const Kafka = rdkafka();
  // A consumer, because its disconnect also releases a handle whose connect failed.
  const client = new Kafka.KafkaConsumer({
    'bootstrap.servers': brokers,
    'client.id': 'stack-tool',
    'group.id': 'stack-tool-metadata',
    'socket.connection.setup.timeout.ms': Math.max(1000, timeoutMs),
    'log.connection.close': false,
    ...settings,
  });
  // librdkafka logs connection failures itself; the caller reports them in one sentence.
  client.on('event.log', () => undefined);
  return new Promise((resolve, reject) => {
    client.connect({ timeout: timeoutMs }, (err, data) => {
      client.disconnect(() => undefined);
      if (err) reject(new Error(err.message));
      else resolve(data);
    });
  });
}

/** Ready = the broker answers a metadata request (not merely an open port). */
export async function kafkaReady(host, port, timeoutMs = 2000, settings = {}) {
  const md = await metadata(`${host}:${port}`, timeoutMs, settings);
  if (!md.brokers?.length) throw new Error('metadata lists no brokers yet');
  return true;
}
