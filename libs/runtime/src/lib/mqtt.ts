/**
 * The MQTT connection every app shares (MQTT.js): the flags and environment
 * names of a broker connection (URL, username/password, TLS files), declared
 * once, and a bounded first connect. The ingest gateway subscribes with it,
 * the producer publishes with it (--mqtt-url).
 */
import fs from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export type { MqttClient, IClientOptions };

/** Validation for an MQTT broker URL option (empty allowed: feature off). */
export const validateMqttUrl = (v: string): string | undefined => {
  if (v === '') return undefined;
  try {
    const u = new URL(v);
    return ['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) ? undefined : `"${v}" is not an mqtt://, mqtts://, ws:// or wss:// URL`;
  } catch {
    return `"${v}" is not a URL such as mqtt://127.0.0.1:1883`;
  }
};

const readableFile = (v: string): string | undefined => (v === '' || fs.existsSync(v) ? undefined : `file ${v} does not exist`);

/** Connection options shared by every MQTT client of the platform (spread into an app's option specs). */
export const MQTT_CONNECTION_OPTIONS = {
  mqttUsername: { type: 'string', env: 'MQTT_USERNAME', default: '', description: 'MQTT username (empty: none).' },
  mqttPassword: { type: 'string', env: 'MQTT_PASSWORD', default: '', description: 'MQTT password; prefer --mqtt-password-file.' },
  mqttPasswordFile: { type: 'string', env: 'MQTT_PASSWORD_FILE', default: '', validate: readableFile, description: 'File holding the MQTT password (trailing newline ignored).' },
  mqttCaFile: { type: 'string', env: 'MQTT_CA_FILE', default: '', validate: readableFile, description: 'PEM CA bundle to verify an mqtts:// broker (default: system CAs).' },
  mqttCertFile: { type: 'string', env: 'MQTT_CERT_FILE', default: '', validate: readableFile, description: 'PEM client certificate for mutual TLS.' },
  mqttKeyFile: { type: 'string', env: 'MQTT_KEY_FILE', default: '', validate: readableFile, description: 'PEM private key of --mqtt-cert-file.' },
  mqttConnectTimeout: { type: 'number', env: 'MQTT_CONNECT_TIMEOUT', default: 15, min: 0.1, description: 'Seconds to reach the MQTT broker at startup before giving up (exit 1).' },
} as const;

export interface MqttConnection {
  url: string;
  username: string;
  password: string;
  passwordFile: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** The connection part of MQTT.js options (credentials, TLS); callers add session and protocol settings. */
export function mqttConnectionOptions(c: MqttConnection): IClientOptions {
  const password = c.passwordFile ? fs.readFileSync(c.passwordFile, 'utf8').replace(/\r?\n$/, '') : c.password;
  return {
    ...(c.username ? { username: c.username } : {}),
    ...(password ? { password } : {}),
    ...(c.caFile ? { ca: fs.readFileSync(c.caFile) } : {}),
    ...(c.certFile ? { cert: fs.readFileSync(c.certFile) } : {}),
    ...(c.keyFile ? { key: fs.readFileSync(c.keyFile) } : {}),
    rejectUnauthorized: true,
  };
}

/** The connection fields of a parsed config that spreads MQTT_CONNECTION_OPTIONS. */
export function mqttConnectionOf(url: string, cfg: { mqttUsername: string; mqttPassword: string; mqttPasswordFile: string; mqttCaFile: string; mqttCertFile: string; mqttKeyFile: string }): MqttConnection {
  return { url, username: cfg.mqttUsername, password: cfg.mqttPassword, passwordFile: cfg.mqttPasswordFile, caFile: cfg.mqttCaFile, certFile: cfg.mqttCertFile, keyFile: cfg.mqttKeyFile };
}

/** Hides credentials in a URL for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Connects and resolves on the first CONNACK; rejects with a readable error
 * if none came within `timeoutMs` (the client is ended then). After that the
 * client reconnects by itself (reconnectPeriod).
 *
 * `prepare` runs before the first packet is read: a persistent session's
 * redelivered messages follow the CONNACK at once, and a message handler
 * installed after the promise resolves would miss them (MQTT.js would
 * acknowledge them unseen).
 */
export function connectMqtt(conn: MqttConnection, options: IClientOptions, timeoutMs: number, prepare?: (client: MqttClient) => void): Promise<MqttClient> {
  const client = mqtt.connect(conn.url, { reconnectPeriod: 1000, connectTimeout: Math.min(timeoutMs, 30000), ...mqttConnectionOptions(conn), ...options });
  prepare?.(client);
  return new Promise((resolve, reject) => {
    let lastError: string | undefined;
    const onError = (err: Error) => {
      lastError = err.message;
      // Authentication and authorisation failures do not heal by retrying.
      if (/not authori[sz]ed|bad user name or password|Connection refused: /i.test(err.message)) fail();
    };
    const fail = () => {
      clearTimeout(timer);
      client.off('error', onError);
      client.end(true);
      reject(new Error(`Cannot connect to the MQTT broker at ${redactUrl(conn.url)} within ${Math.round(timeoutMs / 100) / 10} s${lastError ? ` (${lastError})` : ''}; check --mqtt-url/MQTT_URL and the credentials.`));
    };
    const timer = setTimeout(fail, timeoutMs);
    client.on('error', onError);
    client.once('connect', () => {
      clearTimeout(timer);
      client.off('error', onError);
      resolve(client);
    });
  });
}
