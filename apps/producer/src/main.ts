/**
 * producer: simulated IoT telemetry -> Kafka (see apps/producer/README.md).
 */
import { createLogger, onShutdownSignal, runMain } from '@stream-analytics/runtime';
import { loadConfig } from './app/config';
import { StartupError } from './app/kafka';
import { runMqttProducer } from './app/mqtt-run';
import { printEvents } from './app/print';
import { runProducer } from './app/run';

runMain(async () => {
  const cfg = loadConfig(process.argv.slice(2), process.env);
  if (cfg.print) return printEvents(cfg);
  const logger = createLogger('producer');
  const shutdown = onShutdownSignal();
  try {
    if (cfg.mqttUrl) return await runMqttProducer(cfg, logger, shutdown);
    const { exitCode } = await runProducer(cfg, logger, shutdown);
    return exitCode;
  } catch (err) {
    if (err instanceof StartupError) logger.error({ error: err.message }, 'startup failed');
    throw err;
  } finally {
    shutdown.dispose();
    // librdkafka handles can outlive a failed connection; never hang on them.
    setTimeout(() => process.exit(), 3000).unref();
  }
});
