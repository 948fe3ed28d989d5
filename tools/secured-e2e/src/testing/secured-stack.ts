/**
 * One secured local stack for this test project (tools/stack with
 * STACK_SECURED=1): its own state folder and free ports, a SASL_SSL listener
 * with SCRAM users and the StandardAuthorizer, ClickHouse over https with the
 * platform's writer and read-only users, and the apps' ACLs applied by the
 * topics tool. Started once per test file and purged afterwards.
 */
import { workspaceRoot } from '@stream-analytics/testing';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SecuredStack {
  /** SASL_SSL listener; the apps connect here. */
  brokers: string;
  /** Plaintext listener of the same broker (unrestricted; for test reads only). */
  plaintextBrokers: string;
  clickhouseHttpsUrl: string;
  clickhouseHttpUrl: string;
  ca: string;
  /** A CA that signed nothing here. */
  otherCa: string;
  /** A client certificate and key signed by the stack's CA (mutual TLS). */
  clientCert: string;
  clientKey: string;
  passwordFile(kind: 'kafka' | 'clickhouse', user: string): string;
  /** Every password of the stack (for the leak checks). */
  passwords(): string[];
  env: Record<string, string>;
  /** Applies the apps' ACLs of the dev profile with the topics tool (idempotent). */
  applyAcls(): Promise<void>;
  stop(): Promise<void>;
}

function stack(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [path.join(workspaceRoot(), 'tools/stack/stack.mjs'), ...args], { env: { ...process.env, ...env }, timeout: 300_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`stack ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

export async function startSecuredStack(): Promise<SecuredStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secured-stack-'));
  const env: Record<string, string> = {
    ...(JSON.parse(execFileSync(process.execPath, [path.join(workspaceRoot(), 'tools/stack/security.mjs'), 'stack-env', dir], { encoding: 'utf8' })) as Record<string, string>),
    KAFKA_HEAP_OPTS: '-Xms256m -Xmx768m',
  };
  await stack(['up'], env);
  const printed = await stack(['env'], env);
  const value = (name: string) => {
    const v = new RegExp(`${name}=(\\S+)`).exec(printed)?.[1];
    if (!v) throw new Error(`stack env printed no ${name}:\n${printed}`);
    return v;
  };
  const secrets = value('STACK_SECRETS_DIR');
  const tls = value('STACK_TLS_DIR');
  const s: SecuredStack = {
    brokers: value('KAFKA_SASL_SSL_BROKERS'),
    plaintextBrokers: value('KAFKA_BROKERS'),
    clickhouseHttpsUrl: value('CLICKHOUSE_HTTPS_URL'),
    clickhouseHttpUrl: value('CLICKHOUSE_URL'),
    ca: value('KAFKA_SSL_CA_LOCATION'),
    otherCa: path.join(tls, 'other-ca.pem'),
    clientCert: path.join(tls, 'client.pem'),
    clientKey: path.join(tls, 'client.key'),
    passwordFile: (kind, user) => path.join(secrets, `${kind}-${user}.password`),
    passwords: () => fs.readdirSync(secrets).map((f) => fs.readFileSync(path.join(secrets, f), 'utf8').trim()),
    env,
    applyAcls: () => {
      const topicsTool = path.join(workspaceRoot(), 'dist/tools/topics/main.js');
      return new Promise<void>((resolve, reject) =>
        execFile(process.execPath, [topicsTool, '--profile', 'dev', '--acls'], { env: { ...process.env, ...kafkaClientEnv(s, 'admin', 'SCRAM-SHA-512') }, timeout: 120_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`provision-topics --acls failed: ${err.message}\n${stdout}\n${stderr}`)) : resolve(),
        ),
      );
    },
    stop: async () => {
      await stack(['down', '--purge'], env);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  // The apps' least-privilege ACLs, applied by the topics tool as the admin user over SASL_SSL.
  await s.applyAcls();
  return s;
}

/** The Kafka security environment of one app user. */
export function kafkaClientEnv(s: SecuredStack, user: string, mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', overrides: Record<string, string> = {}): Record<string, string> {
  return {
    KAFKA_BROKERS: s.brokers,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: user,
    KAFKA_SASL_PASSWORD_FILE: s.passwordFile('kafka', user),
    KAFKA_SSL_CA_LOCATION: s.ca,
    ...overrides,
  };
}

/** ClickHouse over https as one of the platform's users. */
export function clickhouseClientEnv(s: SecuredStack, user: 'aggregator' | 'grafana', overrides: Record<string, string> = {}): Record<string, string> {
  return {
    CLICKHOUSE_URL: s.clickhouseHttpsUrl,
    CLICKHOUSE_USER: user,
    CLICKHOUSE_PASSWORD_FILE: s.passwordFile('clickhouse', user),
    CLICKHOUSE_CA_CERT: s.ca,
    ...overrides,
  };
}
