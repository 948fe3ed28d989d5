import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HelpRequested, parseConfig, UsageError, type CommandSpec } from './config';
import { baseKafkaConfig } from './kafka-config';
import { describeKafkaSecurityError, KAFKA_SECURITY_OPTIONS, parseKafkaSecurity, resolveKafkaSecurity, type KafkaSecurityOptions } from './kafka-security';

const spec = { name: 'demo', summary: 'Demo.', options: { ...KAFKA_SECURITY_OPTIONS } } satisfies CommandSpec<typeof KAFKA_SECURITY_OPTIONS>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-security-'));
const file = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};
const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\n');
const cert = file('client.pem', '-----BEGIN CERTIFICATE-----\n');
const key = file('client.key', '-----BEGIN PRIVATE KEY-----\n');
const passwordFile = file('password', 's3cret-from-file\n');
const fromEnv = (env: Record<string, string>) => parseKafkaSecurity(parseConfig(spec, [], env).config as KafkaSecurityOptions, spec);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('Kafka security options', () => {
  it('default to PLAINTEXT with no security settings', () => {
    expect(fromEnv({}).librdkafkaConfig()).toEqual({ 'security.protocol': 'plaintext' });
    expect(baseKafkaConfig({ brokers: 'k:9092', clientId: 'c' })['security.protocol']).toBe('plaintext');
  });

  it('map SASL_SSL + SCRAM + CA + client certificate onto librdkafka, password read from its file', () => {
    const sec = fromEnv({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'aggregator',
      KAFKA_SASL_PASSWORD_FILE: passwordFile,
      KAFKA_SSL_CA_LOCATION: ca,
      KAFKA_SSL_CERT_LOCATION: cert,
      KAFKA_SSL_KEY_LOCATION: key,
    });
    expect(baseKafkaConfig({ brokers: 'k:9093', clientId: 'c', security: sec })).toMatchObject({
      'security.protocol': 'sasl_ssl',
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'aggregator',
      'sasl.password': 's3cret-from-file',
      'ssl.ca.location': ca,
      'ssl.certificate.location': cert,
      'ssl.key.location': key,
      'ssl.endpoint.identification.algorithm': 'https',
    });
    expect(sec.kafkaJsConfig()).toMatchObject({ sasl: { mechanism: 'scram-sha-512', username: 'aggregator', password: 's3cret-from-file' }, ssl: { ca: '-----BEGIN CERTIFICATE-----\n' } });
  });

  it.each([
    ['SSL', {}, { 'security.protocol': 'ssl', 'ssl.endpoint.identification.algorithm': 'https' }],
    ['SASL_PLAINTEXT', { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, { 'security.protocol': 'sasl_plaintext', 'sasl.mechanisms': 'PLAIN' }],
    ['SASL_SSL', { KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, { 'security.protocol': 'sasl_ssl', 'sasl.mechanisms': 'SCRAM-SHA-256' }],
  ])('support %s', (protocol, env, expected) => {
    expect(fromEnv({ KAFKA_SECURITY_PROTOCOL: protocol, ...env }).librdkafkaConfig()).toMatchObject(expected);
  });

  it('are flags too', () => {
    const { config } = parseConfig(spec, ['--kafka-security-protocol', 'SASL_SSL', '--kafka-sasl-mechanism', 'PLAIN', '--kafka-sasl-username', 'key', '--kafka-sasl-password', 'p'], {});
    expect(resolveKafkaSecurity(config as KafkaSecurityOptions).describe()).toBe('SASL_SSL PLAIN as key');
  });

  it.each([
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }, /needs --kafka-sasl-mechanism/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN' }, /needs a username/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u' }, /needs a password/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', KAFKA_SASL_PASSWORD_FILE: passwordFile }, /not both/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: path.join(dir, 'missing') }, /Cannot read --kafka-sasl-password-file .*missing: ENOENT/],
    [{ KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u' }, /--kafka-sasl-mechanism needs --kafka-security-protocol SASL_SSL or SASL_PLAINTEXT/],
    [{ KAFKA_SSL_CA_LOCATION: ca }, /--kafka-ssl-ca-location needs --kafka-security-protocol SSL or SASL_SSL/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_LOCATION: cert }, /needs both --kafka-ssl-cert-location and --kafka-ssl-key-location/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_LOCATION: path.join(dir, 'nope.pem') }, /--kafka-ssl-ca-location .*nope.pem does not exist/],
    [{ KAFKA_SECURITY_PROTOCOL: 'TLS' }, /expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/],
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'GSSAPI' }, /expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/],
  ])('reject %j as a usage error', (env, message) => {
    expect(() => fromEnv(env)).toThrow(UsageError);
    expect(() => fromEnv(env)).toThrow(message);
  });

  it('never show a password: not in --help, not in JSON, not in error sentences', () => {
    const env = { KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'hunter2-secret' };
    const sec = fromEnv(env);
    expect(JSON.stringify({ sec })).not.toContain('hunter2-secret');
    let help = '';
    try {
      parseConfig(spec, ['--help'], env);
    } catch (err) {
      help = (err as HelpRequested).usage;
    }
    expect(help).toContain('--kafka-sasl-password-file');
    expect(help).not.toContain('hunter2-secret');
    expect(describeKafkaSecurityError({ code: -169, message: 'SASL authentication error: Authentication failed' }, 'k:9093', sec)).not.toContain('hunter2-secret');
  });
});

describe('describeKafkaSecurityError', () => {
  const sec = resolveKafkaSecurity({ kafkaSecurityProtocol: 'SASL_SSL', kafkaSaslMechanism: 'SCRAM-SHA-256', kafkaSaslUsername: 'producer', kafkaSaslPassword: 'x', kafkaSslCaLocation: ca });
  it.each([
    [{ code: -169, message: 'SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256' }, /rejected the SASL credentials of user "producer" \(SCRAM-SHA-256\)/],
    [{ code: -181, message: 'ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified' }, /not signed by a trusted CA: set KAFKA_SSL_CA_LOCATION .*ca.pem is not it/],
    [{ code: -181, message: 'SSL handshake failed: certificate verify failed: Hostname mismatch' }, /not issued for that host name/],
    [{ code: -181, message: 'SSL handshake failed: error:0A00010B:SSL routines::wrong version number' }, /does not speak TLS on that port/],
    [{ message: 'SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512' }, /rejected the SASL credentials of user "producer"/],
    [{ message: 'Connection error: unable to verify the first certificate' }, /not signed by a trusted CA/],
    [{ message: "Connection error: Hostname/IP does not match certificate's altnames: Host: localhost. is not in the cert's altnames: IP Address:127.0.0.1" }, /not issued for that host name/],
    [{ code: 29, message: 'Broker: Topic authorization failed' }, /denied user "producer" access \(topic: Broker: Topic authorization failed\)/],
    [{ code: 30, message: 'Broker: Group authorization failed' }, /group/],
  ])('explains %j in one sentence', (err, sentence) => {
    const text = describeKafkaSecurityError(err, '127.0.0.1:9093', sec);
    expect(text).toMatch(sentence);
    expect(text?.split(/\.\s/).length).toBe(1);
  });

  it('leaves other errors alone', () => {
    expect(describeKafkaSecurityError({ code: -195, message: 'Local: Broker transport failure' }, 'k:1')).toBeUndefined();
  });
});
