// The secured variant of the local stack (STACK_SECURED=1): a SASL_SSL listener with the
// StandardAuthorizer on the broker and an https port on ClickHouse, next to the plaintext ones.
// Test certificates are generated here with openssl and passwords at random, all under the
// state dir (git-ignored), never committed. The plaintext listener stays for the stack's own
// provisioning on loopback; its ANONYMOUS principal is a super user, every SASL user is bound by
// the ACLs the topics tool applies.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort } from './ports.mjs';
import { join } from 'node:path';
import { StackError, say, shortPath } from './log.mjs';
import { run } from './process.mjs';

/** The Kafka users of the platform: one per app, plus the admin the tools use. */
export const KAFKA_USERS = ['admin', 'producer', 'aggregator', 'replayer', 'gateway'];
/** The ClickHouse users of clickhouse/users.d/stream-analytics.xml and their password variables. */
export const CLICKHOUSE_USERS = { aggregator: 'CLICKHOUSE_AGGREGATOR_PASSWORD', grafana: 'CLICKHOUSE_GRAFANA_PASSWORD' };
const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'];

/** Where the test certificates of one folder live. */
export function tlsPaths(dir) {
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    otherCa: join(dir, 'other-ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    serverPem: join(dir, 'server-keystore.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

export const secretFile = (cfg, kind, user) => join(cfg.secured.secretsDir, `${kind}-${user}.password`);

function ensureSecret(file) {
  if (!existsSync(file)) {
    writeFileSync(file, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

/** Random passwords for every user, created once and kept in the secrets folder (mode 600). */
export function ensureSecrets(cfg) {
  mkdirSync(cfg.secured.secretsDir, { recursive: true, mode: 0o700 });
  const kafka = Object.fromEntries(KAFKA_USERS.map((u) => [u, ensureSecret(secretFile(cfg, 'kafka', u))]));
  const clickhouse = Object.fromEntries(Object.keys(CLICKHOUSE_USERS).map((u) => [u, ensureSecret(secretFile(cfg, 'clickhouse', u))]));
  return { kafka, clickhouse };
}

async function openssl(args, what) {
  const res = await run('openssl', args, { timeoutMs: 60_000 });
  if (res.code !== 0) throw new StackError(`openssl could not ${what} (exit code ${res.code}); is openssl installed (apt-get install -y openssl)?`, { details: (res.stderr || '').trim().split('\n').slice(-4) });
}

/**
 * A test CA, a server certificate for 127.0.0.1 (IP SAN only, so `localhost` is a name
 * mismatch tests can use), a client certificate for mutual TLS, and an unrelated CA that
 * signed nothing here (an "unknown CA" for tests). Generated once per state dir.
 */
const generating = new Map();
export function ensureCertificates(cfg) {
  // Both servers prepare in parallel; they must share one set of certificates.
  const key = cfg.secured.tls.dir;
  if (!generating.has(key)) generating.set(key, generateCertificates(cfg));
  return generating.get(key);
}

async function generateCertificates(cfg) {
  const t = cfg.secured.tls;
  if ([t.ca, t.serverCert, t.serverKey, t.serverPem, t.clientCert, t.clientKey, t.otherCa].every((f) => existsSync(f))) return;
  mkdirSync(t.dir, { recursive: true, mode: 0o700 });
  const days = '3650';
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', t.caKey, '-out', t.ca, '-days', days, '-subj', '/CN=stream-analytics local test CA'], 'create the test CA');
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(t.dir, 'other-ca.key'), '-out', t.otherCa, '-days', days, '-subj', '/CN=unrelated test CA'], 'create the unrelated CA');
  const ext = join(t.dir, 'server.ext');
  writeFileSync(ext, `subjectAltName=IP:${cfg.host}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', t.serverKey, '-out', join(t.dir, 'server.csr'), '-subj', `/CN=${cfg.host}`], 'create the server key');
  await openssl(['x509', '-req', '-in', join(t.dir, 'server.csr'), '-CA', t.ca, '-CAkey', t.caKey, '-CAcreateserial', '-out', t.serverCert, '-days', days, '-extfile', ext], 'sign the server certificate');
  const clientExt = join(t.dir, 'client.ext');
  writeFileSync(clientExt, 'extendedKeyUsage=clientAuth\n');
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', t.clientKey, '-out', join(t.dir, 'client.csr'), '-subj', '/CN=stream-analytics test client'], 'create the client key');
  await openssl(['x509', '-req', '-in', join(t.dir, 'client.csr'), '-CA', t.ca, '-CAkey', t.caKey, '-CAcreateserial', '-out', t.clientCert, '-days', days, '-extfile', clientExt], 'sign the client certificate');
  // Kafka reads a PEM keystore: the unencrypted PKCS#8 key followed by the certificate.
  writeFileSync(t.serverPem, readFileSync(t.serverKey, 'utf8') + readFileSync(t.serverCert, 'utf8'), { mode: 0o600 });
  for (const f of [t.caKey, t.serverKey, t.clientKey]) chmodSync(f, 0o600);
  say(`tls: generated a test CA and certificates in ${shortPath(t.dir)}`);
}

/** server.properties lines of the SASL_SSL listener and the authorizer. */
export function kafkaSecuredProperties(cfg, secrets) {
  const { host } = cfg;
  const t = cfg.secured.tls;
  const port = cfg.secured.kafkaPort;
  const plainUsers = KAFKA_USERS.map((u) => `user_${u}="${secrets.kafka[u]}"`).join(' ');
  return {
    listeners: `PLAINTEXT://${host}:${cfg.ports.kafka},CONTROLLER://${host}:${cfg.ports.kafkaController},SASL_SSL://${host}:${port}`,
    advertised: `PLAINTEXT://${host}:${cfg.ports.kafka},SASL_SSL://${host}:${port}`,
    protocolMap: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL',
    extra: [
      '# SASL_SSL listener (STACK_SECURED=1): PLAIN and SCRAM, TLS with the test CA, optional client certificates.',
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
      'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_ssl.ssl.keystore.type=PEM',
      `listener.name.sasl_ssl.ssl.keystore.location=${t.serverPem}`,
      'listener.name.sasl_ssl.ssl.truststore.type=PEM',
      `listener.name.sasl_ssl.ssl.truststore.location=${t.ca}`,
      'listener.name.sasl_ssl.ssl.client.auth=requested',
      'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      // Loopback plaintext (the stack's own provisioning) and the controller stay unrestricted.
      'super.users=User:ANONYMOUS;User:admin',
      'allow.everyone.if.no.acl.found=false',
    ],
  };
}

/**
 * librdkafka settings of the admin user on the SASL_SSL listener (the readiness probe). The
 * apps take theirs from KAFKA_* through libs/runtime; this .mjs tool runs before any build.
 */
export function securedAdminSettings(cfg) {
  return {
    'security.protocol': 'sasl_ssl',
    'sasl.mechanisms': 'SCRAM-SHA-512',
    'sasl.username': 'admin',
    'sasl.password': ensureSecrets(cfg).kafka.admin,
    'ssl.ca.location': cfg.secured.tls.ca,
  };
}

/** kafka-storage format arguments that create every SCRAM user (KIP-900). */
export function scramFormatArgs(secrets) {
  return KAFKA_USERS.flatMap((u) => SCRAM_MECHANISMS.flatMap((m) => ['--add-scram', `${m}=[name=${u},password=${secrets.kafka[u]}]`]));
}

/** config.xml lines of the https port (ClickHouse 18.16 and current: Poco's openSSL server section). */
export function clickhouseHttpsConfig(cfg) {
  const t = cfg.secured.tls;
  return `    <https_port>${cfg.secured.clickhouseHttpsPort}</https_port>
    <openSSL>
        <server>
            <certificateFile>${t.serverCert}</certificateFile>
            <privateKeyFile>${t.serverKey}</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
`;
}

/** The environment of the secured endpoints, for apps and tests (paths only, never a password). */
export function securedClientEnv(cfg) {
  const s = cfg.secured;
  return {
    KAFKA_SASL_SSL_BROKERS: `${cfg.host}:${s.kafkaPort}`,
    KAFKA_SSL_CA_LOCATION: s.tls.ca,
    STACK_SECRETS_DIR: s.secretsDir,
    STACK_TLS_DIR: s.tls.dir,
    CLICKHOUSE_HTTPS_URL: `https://${cfg.host}:${s.clickhouseHttpsPort}`,
    CLICKHOUSE_CA_CERT: s.tls.ca,
  };
}

/** The environment of a fresh secured stack in `dir` on free ports (tests and benchmarks). */
export async function freshSecuredStackEnv(dir) {
  const names = ['KAFKA_PORT', 'KAFKA_CONTROLLER_PORT', 'KAFKA_SASL_SSL_PORT', 'CLICKHOUSE_HTTP_PORT', 'CLICKHOUSE_TCP_PORT', 'CLICKHOUSE_HTTPS_PORT'];
  const ports = [];
  while (ports.length < names.length) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return { STACK_SECURED: '1', STACK_DIR: dir, ...Object.fromEntries(names.map((n, i) => [n, String(ports[i])])) };
}

// CLI for servers and stacks that tests start themselves:
//   node tools/stack/security.mjs certs <dir> [host]   the test certificates; prints their paths (JSON)
//   node tools/stack/security.mjs stack-env <dir>      env of a fresh secured stack on free ports (JSON)
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [command, dir, host = '127.0.0.1'] = process.argv.slice(2);
  const fail = (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  };
  if (command === 'certs' && dir) {
    const cfg = { host, secured: { tls: tlsPaths(dir) } };
    ensureCertificates(cfg).then(() => process.stdout.write(`${JSON.stringify(cfg.secured.tls)}\n`), fail);
  } else if (command === 'stack-env' && dir) {
    freshSecuredStackEnv(dir).then((env) => process.stdout.write(`${JSON.stringify(env)}\n`), fail);
  } else {
    process.stderr.write('usage: node tools/stack/security.mjs certs <dir> [host] | stack-env <dir>\n');
    process.exit(2);
  }
}
