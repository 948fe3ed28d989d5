import { UsageError } from '@stream-analytics/runtime';
import { loadConfig } from './config';
import { subscriptionFilter } from './mqtt-ingress';

describe('gateway configuration', () => {
  it('defaults to the design contract: MQTT on the local broker, devices/+/telemetry, HTTP on 8088, the raw topic and the DLQ', () => {
    expect(loadConfig(['--tokens-file', __filename], {})).toMatchObject({
      brokers: '127.0.0.1:9092',
      topic: 'iot.telemetry.raw.v1',
      dlqTopic: 'iot.telemetry.dlq.v1',
      mqttUrl: 'mqtt://127.0.0.1:1883',
      mqttTopic: 'devices/+/telemetry',
      mqttShareGroup: '',
      mqttProtocolVersion: 5,
      httpPort: 8088,
      httpAuth: 'tokens',
      metricsPort: 9467,
    });
  });

  it('reads the shared environment names; flags win', () => {
    const env = { KAFKA_BROKERS: 'k:9092', MQTT_URL: 'mqtts://broker:8883', MQTT_TOPIC: 'fleet/+/t', INGEST_HTTP_PORT: '9000', MQTT_SHARE_GROUP: 'ingest', INGEST_HTTP_AUTH: 'none' };
    expect(loadConfig([], env)).toMatchObject({ brokers: 'k:9092', mqttUrl: 'mqtts://broker:8883', mqttTopic: 'fleet/+/t', httpPort: 9000, mqttShareGroup: 'ingest', httpAuth: 'none' });
    expect(loadConfig(['--http-port', '0', '--mqtt-url', ''], env)).toMatchObject({ httpPort: 0, mqttUrl: '' });
  });

  it('refuses invalid values with a usage error (exit 2)', () => {
    expect(() => loadConfig([], {})).toThrow(/--tokens-file \(INGEST_TOKENS_FILE\) is required/);
    expect(() => loadConfig(['--http-auth', 'none', '--mqtt-url', 'http://x'], {})).toThrow(UsageError);
    expect(() => loadConfig(['--http-auth', 'none', '--mqtt-share-group', 'a/b'], {})).toThrow(/must not contain/);
    expect(() => loadConfig(['--http-auth', 'none', '--mqtt-protocol-version', '3'], {})).toThrow(/>= 4/);
    expect(() => loadConfig(['--http-auth', 'none', '--mqtt-ca-file', '/nonexistent/ca.pem'], {})).toThrow(/does not exist/);
    expect(() => loadConfig(['--http-auth', 'none', '--brokers', 'nohost'], {})).toThrow(/host:port/);
  });

  it('subscribes to $share/<group>/<filter> when a share group is set', () => {
    expect(subscriptionFilter('devices/+/telemetry', '')).toBe('devices/+/telemetry');
    expect(subscriptionFilter('devices/+/telemetry', 'ingest')).toBe('$share/ingest/devices/+/telemetry');
  });
});
