/**
 * Kafka connection security, declared once for every client in the repo:
 * the option definitions (flags + the environment names fixed by the design
 * notes), their validation, and the one mapping onto librdkafka settings.
 * Apps spread {@link KAFKA_SECURITY_OPTIONS} into their command spec, call
 * {@link resolveKafkaSecurity} once at start and pass the result to
 * baseKafkaConfig. Secrets never reach a log line, an error message or a
 * --help default: the password has no default, files are read once here, and
 * a resolved {@link KafkaSecurity} serialises without its password.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { formatUsage, UsageError, type CommandSpec, type OptionSpecs } from './config';

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export const KAFKA_SECURITY_OPTIONS = {
  kafkaSecurityProtocol: {
    type: 'string',
    env: 'KAFKA_SECURITY_PROTOCOL',
    default: 'PLAINTEXT',
    choices: SECURITY_PROTOCOLS,
    description: 'How clients talk to the brokers: TLS (SSL, SASL_SSL) and/or SASL authentication (SASL_PLAINTEXT, SASL_SSL).',
  },
  kafkaSaslMechanism: { type: 'string', env: 'KAFKA_SASL_MECHANISM', choices: SASL_MECHANISMS, description: 'SASL mechanism (needs a SASL_* security protocol and a username).' },
  kafkaSaslUsername: { type: 'string', env: 'KAFKA_SASL_USERNAME', description: 'SASL username (Confluent Cloud: the API key).' },
  kafkaSaslPassword: { type: 'string', env: 'KAFKA_SASL_PASSWORD', description: 'SASL password; prefer --kafka-sasl-password-file. Never logged.' },
  kafkaSaslPasswordFile: { type: 'string', env: 'KAFKA_SASL_PASSWORD_FILE', description: 'File holding the SASL password (read once at start; e.g. a mounted Kubernetes Secret).' },
  kafkaSslCaLocation: { type: 'string', env: 'KAFKA_SSL_CA_LOCATION', description: 'PEM file of the CA(s) that signed the brokers\u2019 certificates (default: the system trust store).' },
  kafkaSslCertLocation: { type: 'string', env: 'KAFKA_SSL_CERT_LOCATION', description: 'PEM client certificate for mutual TLS (with --kafka-ssl-key-location).' },
  kafkaSslKeyLocation: { type: 'string', env: 'KAFKA_SSL_KEY_LOCATION', description: 'PEM private key of the client certificate (unencrypted).' },
} as const satisfies OptionSpecs;

/** What an app's parsed config holds for the options above. */
export interface KafkaSecurityOptions {
  kafkaSecurityProtocol: string;
  kafkaSaslMechanism?: string;
  kafkaSaslUsername?: string;
  kafkaSaslPassword?: string;
  kafkaSaslPasswordFile?: string;
  kafkaSslCaLocation?: string;
  kafkaSslCertLocation?: string;
  kafkaSslKeyLocation?: string;
}

/** A validated security setup; `toJSON` (and so every logger) leaves the password out. */
export class KafkaSecurity {
  readonly sasl: boolean;
  readonly tls: boolean;

  constructor(
    readonly protocol: SecurityProtocol,
    readonly mechanism: SaslMechanism | undefined,
    readonly username: string | undefined,
    private readonly password: string | undefined,
    readonly caLocation: string | undefined,
    readonly certLocation: string | undefined,
    readonly keyLocation: string | undefined,
  ) {
    this.sasl = protocol.startsWith('SASL_');
    this.tls = protocol === 'SSL' || protocol === 'SASL_SSL';
  }

  static readonly plaintext = new KafkaSecurity('PLAINTEXT', undefined, undefined, undefined, undefined, undefined, undefined);

  /** librdkafka settings for this setup (merged into every client's global config). */
  librdkafkaConfig(): Record<string, string> {
    const out: Record<string, string> = { 'security.protocol': this.protocol.toLowerCase() };
    if (this.sasl) {
      out['sasl.mechanisms'] = this.mechanism as string;
      out['sasl.username'] = this.username as string;
      out['sasl.password'] = this.password as string;
    }
    if (this.tls) {
      // librdkafka verifies the broker's name against its certificate by default; say so explicitly.
      out['ssl.endpoint.identification.algorithm'] = 'https';
      if (this.caLocation) out['ssl.ca.location'] = this.caLocation;
      if (this.certLocation) out['ssl.certificate.location'] = this.certLocation;
      if (this.keyLocation) out['ssl.key.location'] = this.keyLocation;
    }
    return out;
  }

  /** For KafkaJS-style clients (admin calls librdkafka lacks). */
  kafkaJsConfig(): { ssl?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: true }; sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } } {
    const read = (file: string | undefined) => (file ? fs.readFileSync(file, 'utf8') : undefined);
    return {
      ...(this.tls ? { ssl: { ca: read(this.caLocation), cert: read(this.certLocation), key: read(this.keyLocation), rejectUnauthorized: true as const } } : {}),
      ...(this.sasl ? { sasl: { mechanism: (this.mechanism as string).toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512', username: this.username as string, password: this.password as string } } : {}),
    };
  }

  /** A short description safe to log ("SASL_SSL SCRAM-SHA-512 as aggregator"). */
  describe(): string {
    return [this.protocol, this.sasl ? `${this.mechanism} as ${this.username}` : undefined, this.certLocation ? 'with a client certificate' : undefined].filter(Boolean).join(' ');
  }

  toJSON(): Record<string, unknown> {
    return { protocol: this.protocol, mechanism: this.mechanism, username: this.username, caLocation: this.caLocation, certLocation: this.certLocation, keyLocation: this.keyLocation };
  }
}

/** Reads a secret file once: one value, trailing newline(s) removed. */
export function readSecretFile(file: string, flag: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new Error(`${flag} ${file} is empty.`);
  return value;
}

/**
 * Validates the options as a whole and reads the password file. Throws an
 * Error whose message names the flags at fault (callers wrap it in their
 * UsageError); never echoes a secret.
 */
export function resolveKafkaSecurity(o: KafkaSecurityOptions): KafkaSecurity {
  const protocol = o.kafkaSecurityProtocol as SecurityProtocol;
  if (!SECURITY_PROTOCOLS.includes(protocol)) throw new Error(`--kafka-security-protocol must be one of ${SECURITY_PROTOCOLS.join(', ')}.`);
  const sasl = protocol.startsWith('SASL_');
  const tls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const saslGiven = (['kafkaSaslMechanism', 'kafkaSaslUsername', 'kafkaSaslPassword', 'kafkaSaslPasswordFile'] as const).filter((k) => o[k] !== undefined);
  const tlsGiven = (['kafkaSslCaLocation', 'kafkaSslCertLocation', 'kafkaSslKeyLocation'] as const).filter((k) => o[k] !== undefined);
  const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (!sasl && saslGiven.length) throw new Error(`${flag(saslGiven[0])} needs --kafka-security-protocol SASL_SSL or SASL_PLAINTEXT (KAFKA_SECURITY_PROTOCOL is ${protocol}).`);
  if (!tls && tlsGiven.length) throw new Error(`${flag(tlsGiven[0])} needs --kafka-security-protocol SSL or SASL_SSL (KAFKA_SECURITY_PROTOCOL is ${protocol}).`);
  let password: string | undefined;
  if (sasl) {
    if (!o.kafkaSaslMechanism) throw new Error(`--kafka-security-protocol ${protocol} needs --kafka-sasl-mechanism (KAFKA_SASL_MECHANISM: ${SASL_MECHANISMS.join(', ')}).`);
    if (!SASL_MECHANISMS.includes(o.kafkaSaslMechanism as SaslMechanism)) throw new Error(`--kafka-sasl-mechanism must be one of ${SASL_MECHANISMS.join(', ')}.`);
    if (!o.kafkaSaslUsername) throw new Error(`--kafka-sasl-mechanism ${o.kafkaSaslMechanism} needs a username (--kafka-sasl-username / KAFKA_SASL_USERNAME).`);
    if (o.kafkaSaslPassword !== undefined && o.kafkaSaslPasswordFile !== undefined) throw new Error('Give the SASL password either directly (KAFKA_SASL_PASSWORD) or as a file (KAFKA_SASL_PASSWORD_FILE), not both.');
    if (o.kafkaSaslPassword === undefined && o.kafkaSaslPasswordFile === undefined) throw new Error(`SASL user ${o.kafkaSaslUsername} needs a password (--kafka-sasl-password-file / KAFKA_SASL_PASSWORD_FILE, or KAFKA_SASL_PASSWORD).`);
    password = o.kafkaSaslPasswordFile !== undefined ? readSecretFile(o.kafkaSaslPasswordFile, '--kafka-sasl-password-file') : o.kafkaSaslPassword;
  }
  if ((o.kafkaSslCertLocation === undefined) !== (o.kafkaSslKeyLocation === undefined)) throw new Error('A client certificate needs both --kafka-ssl-cert-location and --kafka-ssl-key-location.');
  for (const k of tlsGiven) {
    const file = o[k] as string;
    if (!fs.existsSync(file)) throw new Error(`${flag(k)} ${file} does not exist.`);
  }
  return new KafkaSecurity(protocol, sasl ? (o.kafkaSaslMechanism as SaslMechanism) : undefined, sasl ? o.kafkaSaslUsername : undefined, password, o.kafkaSslCaLocation, o.kafkaSslCertLocation, o.kafkaSslKeyLocation);
}

/** librdkafka error codes that mean "fix the configuration", not "try again later". */
const AUTHENTICATION = -169; // ERR__AUTHENTICATION
const SSL = -181; // ERR__SSL
const AUTHORIZATION_CODES: Record<number, string> = { 29: 'topic', 30: 'group', 31: 'cluster', 53: 'transactional id' };

/**
 * One sentence for a librdkafka error caused by security settings, or
 * undefined for any other error. librdkafka's own messages never contain the
 * password.
 */
export function describeKafkaSecurityError(err: { code?: number; message?: string }, brokers: string, security: KafkaSecurity = KafkaSecurity.plaintext): string | undefined {
  const msg = err.message ?? '';
  if (err.code === AUTHENTICATION || /SASL authentication error|Authentication failed|invalid credentials/i.test(msg)) {
    return `Kafka at ${brokers} rejected the SASL credentials${security.username ? ` of user "${security.username}"` : ''} (${security.mechanism ?? 'no mechanism'}): check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD(_FILE) and KAFKA_SASL_MECHANISM.`;
  }
  // librdkafka's words, and Node's (KafkaJS) for the same faults.
  if (err.code === SSL || /SSL handshake failed|certificate verify failed|unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer|Hostname\/IP does not match/i.test(msg)) {
    if (/hostname mismatch|does not match|IP address mismatch/i.test(msg)) {
      return `The TLS certificate of Kafka at ${brokers} is not issued for that host name: connect with a name the certificate lists (or fix the broker's certificate).`;
    }
    if (/certificate verify failed|unable to verify|unable to get local issuer|self.signed|unknown ca/i.test(msg)) {
      return `The TLS certificate of Kafka at ${brokers} is not signed by a trusted CA: set KAFKA_SSL_CA_LOCATION to the CA that signed it${security.caLocation ? ` (${security.caLocation} is not it)` : ''}.`;
    }
    if (/wrong version number|packet length too long|record layer failure/i.test(msg)) {
      return `Kafka at ${brokers} does not speak TLS on that port: check KAFKA_SECURITY_PROTOCOL (${security.protocol}) against the broker's listener.`;
    }
    return `TLS with Kafka at ${brokers} failed (${msg.replace(/ \(after \d+ms.*\)$/, '')}): check KAFKA_SSL_CA_LOCATION and the client certificate settings.`;
  }
  const kind = err.code !== undefined ? AUTHORIZATION_CODES[err.code] : undefined;
  if (kind || /authorization failed|not authorized/i.test(msg)) {
    return `Kafka denied ${security.username ? `user "${security.username}"` : 'this client'} access (${kind ?? 'authorization'}: ${msg}); its ACLs do not allow this operation.`;
  }
  return undefined;
}

/**
 * librdkafka reports an unknown CA and a host name that the certificate does
 * not list with the same words; a TLS handshake from Node with the same CA
 * tells them apart. Resolves to the refined sentence, or undefined.
 */
export function diagnoseKafkaTls(brokers: string, security: KafkaSecurity, timeoutMs = 5000): Promise<string | undefined> {
  const first = brokers.split(',')[0].trim();
  const sep = first.lastIndexOf(':');
  const host = first.slice(0, sep).replace(/^\[|\]$/g, '');
  const port = Number(first.slice(sep + 1));
  return new Promise((resolve) => {
    let ca: Buffer | undefined;
    try {
      ca = security.caLocation ? fs.readFileSync(security.caLocation) : undefined;
    } catch {
      return resolve(undefined);
    }
    const socket = tls.connect({ host, port, ca, servername: net.isIP(host) ? undefined : host, timeout: timeoutMs });
    const done = (sentence: string | undefined) => {
      socket.destroy();
      resolve(sentence);
    };
    socket.once('secureConnect', () => done(undefined));
    socket.once('timeout', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return done(describeKafkaSecurityError({ code: SSL, message: 'certificate verify failed: Hostname mismatch' }, brokers, security));
      if (/CERT|SELF_SIGNED|ISSUER|LEAF/.test(err.code ?? '')) return done(describeKafkaSecurityError({ code: SSL, message: 'certificate verify failed: unknown ca' }, brokers, security));
      done(undefined);
    });
  });
}

type Listener = (e: { code?: number; message?: string; severity?: number }) => void;
type EventSource = { on(event: string, listener: Listener): unknown; off(event: string, listener: Listener): unknown };

/**
 * Watches a librdkafka client (created with event_cb, as baseKafkaConfig
 * does) for security failures, reported as errors or as FAIL log lines, and
 * calls `onFailure` with one sentence each time (refined by
 * {@link diagnoseKafkaTls} for certificate failures). Returns a function that
 * stops watching.
 */
export function watchKafkaSecurity(client: object, brokers: string, security: KafkaSecurity, onFailure: (sentence: string) => void): () => void {
  let stopped = false;
  const report = (err: { code?: number; message?: string }) => {
    const sentence = describeKafkaSecurityError(err, brokers, security);
    if (!sentence || stopped) return;
    if (security.tls && /certificate verify failed/i.test(err.message ?? '')) {
      void diagnoseKafkaTls(brokers, security).then((refined) => !stopped && onFailure(refined ?? sentence));
    } else onFailure(sentence);
  };
  // Consumers, producers and admin clients all emit these events; their typings share no overload.
  const events = client as EventSource;
  const onError: Listener = (err) => report(err);
  const onLog: Listener = (log) => {
    if ((log.severity ?? 7) <= 3) report({ message: log.message });
  };
  events.on('event.error', onError);
  events.on('event.log', onLog);
  return () => {
    stopped = true;
    events.off('event.error', onError);
    events.off('event.log', onLog);
  };
}

/** A failure that retrying cannot fix: wrong credentials, untrusted certificate, missing permission. */
export class KafkaSecurityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KafkaSecurityError';
  }
}

/**
 * Resolves the security options of a parsed command config, turning a
 * validation failure into the command's usage error (exit 2).
 */
export function parseKafkaSecurity(options: KafkaSecurityOptions, spec: CommandSpec<OptionSpecs>): KafkaSecurity {
  try {
    return resolveKafkaSecurity(options);
  } catch (err) {
    throw new UsageError((err as Error).message, formatUsage(spec));
  }
}
