/**
 * ingest-gateway: devices -> MQTT / HTTP -> Kafka (see apps/ingest-gateway/README.md).
 */
import { createLogger, onShutdownSignal, runMain } from '@stream-analytics/runtime';
import { loadConfig } from './app/config';
import { StartupError } from './app/kafka';
import { runGateway } from './app/run';

runMain(async () => {
  const cfg = loadConfig(process.argv.slice(2), process.env);
  const logger = createLogger('ingest-gateway');
  const shutdown = onShutdownSignal();
  try {
    return await runGateway(cfg, logger, shutdown);
  } catch (err) {
    logger.error({ error: (err as Error).message }, err instanceof StartupError ? 'startup failed' : 'failed');
    throw err;
  } finally {
    shutdown.dispose();
    // librdkafka and MQTT handles can outlive a failed connection; never hang on them.
    setTimeout(() => process.exit(), 3000).unref();
  }
});
