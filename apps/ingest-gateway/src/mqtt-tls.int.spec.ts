/**
 * A broker with TLS and username/password only (private Mosquitto): the
 * gateway and the producer's MQTT mode connect through the shared MQTT
 * connection module with a CA file and a password file; wrong credentials
 * stop the gateway at startup with one sentence (exit 1).
 */
import { generateEvents } from '@stream-analytics/event-schema';
import { readTopic, runApp } from '@stream-analytics/testing';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expectRawExactlyOnce, startGateway, topicRoot, useTestBed, waitForMetric } from './testing/harness';

jest.setTimeout(120000);

const bed = useTestBed({ secure: true });

it('carries events from a TLS + password broker, and refuses wrong credentials at startup', async () => {
  const { brokers, mosquitto: broker } = bed;
  const tls = broker.tls!;
  const { raw, dlq } = await bed.topicPair('tls', 6, 1);
  const root = topicRoot();
  const credentials = ['--mqtt-ca-file', tls.caFile, '--mqtt-username', tls.username, '--mqtt-password-file', tls.passwordFile];
  const gw = await startGateway({ brokers, rawTopic: raw, dlqTopic: dlq, mqttUrl: broker.url, mqttTopic: `${root}/+/telemetry`, args: credentials });
  const start = '2026-11-24T09:00:00.000Z';
  const run = await runApp('producer', ['--mqtt-url', broker.url, ...credentials, '--mqtt-topic-prefix', root, '--count', '2000', '--rate', '0', '--devices', '20', '--seed', '3', '--start-time', start, '--metrics-port', '0']);
  expect(run.code).toBe(0);
  await waitForMetric(gw, 'ingest_gateway_acknowledged_total', 2000);
  gw.app.child.kill('SIGTERM');
  expect((await gw.app.exited).code).toBe(0);
  expectRawExactlyOnce(await readTopic(brokers, raw, { partitions: 6 }), [...generateEvents({ seed: 3, count: 2000, devices: 20, startTimeMs: Date.parse(start), ratePerSec: 10000 })]);

  const wrong = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gw-pw-')), 'password');
  fs.writeFileSync(wrong, 'not-the-password\n');
  const refused = await runApp('ingest-gateway', ['--brokers', brokers, '--topic', raw, '--dlq-topic', dlq, '--mqtt-url', broker.url, '--mqtt-ca-file', tls.caFile, '--mqtt-username', tls.username, '--mqtt-password-file', wrong, '--http-auth', 'none', '--http-port', '0', '--metrics-port', '0']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^fatal: Cannot connect to the MQTT broker at mqtts:\/\/127\.0\.0\.1:\d+\/? within .*(not authori[sz]ed|Bad username or password)/im);
});
