// The MQTT broker of the local stack: Debian's Mosquitto as a user process with its config and
// data under the state dir, started only when no broker answers on the MQTT port (the development
// and CI machines run one on 127.0.0.1:1883 from boot; the stack then uses it, and never stops it).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { StackError } from './log.mjs';
import { findOnPath } from './process.mjs';

/**
 * Resolves true when an MQTT broker answers on host:port: a CONNECT (MQTT 3.1.1, clean session)
 * gets a CONNACK. Rejects otherwise, with the reason.
 */
export function mqttReady(host, port, timeoutMs = 2000) {
  const clientId = Buffer.from(`stack-probe-${process.pid}`);
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x0a]);
  const payload = Buffer.concat([Buffer.from([clientId.length >> 8, clientId.length & 0xff]), clientId]);
  const connectPacket = Buffer.concat([Buffer.from([0x10, variable.length + payload.length]), variable, payload]);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const done = (err) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(true);
    };
    const timer = setTimeout(() => done(new Error(`no CONNACK from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', done);
    socket.once('connect', () => socket.write(connectPacket));
    socket.once('data', (d) => {
      if (d[0] !== 0x20) return done(new Error(`not an MQTT broker on ${host}:${port} (first byte 0x${d[0].toString(16)})`));
      // A refused CONNECT (e.g. authentication required) still proves a broker answers there.
      socket.write(Buffer.from([0xe0, 0x00])); // DISCONNECT
      done();
    });
  });
}

function findBinary(cfg) {
  if (cfg.mqtt.bin) {
    if (!existsSync(cfg.mqtt.bin)) throw new StackError(`MOSQUITTO_BIN points at ${cfg.mqtt.bin}, which does not exist.`);
    return cfg.mqtt.bin;
  }
  const found = findOnPath('mosquitto', ['/usr/sbin', '/usr/bin']);
  if (!found) throw new StackError('Mosquitto was not found in /usr/sbin or on PATH; install it (Debian: apt-get install -y mosquitto, or run bash tools/run/bootstrap.sh) and run again.');
  return found;
}

export function mosquittoServer(cfg) {
  const m = cfg.mqtt;
  let binary = null;
  return {
    name: 'mqtt',
    title: 'Mosquitto',
    pidFile: m.pidFile,
    logFile: m.logFile,
    marker: m.config,
    endpoint: `mqtt://${cfg.host}:${cfg.ports.mqtt}`,
    ports: [{ port: cfg.ports.mqtt, envName: 'MQTT_PORT' }],
    // Another broker answering on the port is used as it is (see the header).
    useAnswering: true,
    async prepare() {
      binary = findBinary(cfg);
      mkdirSync(m.dataDir, { recursive: true });
      writeFileSync(
        m.config,
        [
          `listener ${cfg.ports.mqtt} ${cfg.host}`,
          'allow_anonymous true',
          'persistence true',
          `persistence_location ${m.dataDir}/`,
          // QoS 1 messages for a subscriber that is away or behind are kept, not dropped after
          // the default 1000 (the ingest gateway's no-loss promise depends on it).
          'max_queued_messages 1000000',
          'log_dest stdout',
          '',
        ].join('\n'),
      );
    },
    command() {
      return { cmd: binary, args: ['-c', m.config], cwd: m.dir, stdoutLog: m.stdoutLog };
    },
    probe: (timeoutMs) => mqttReady(cfg.host, cfg.ports.mqtt, timeoutMs),
  };
}
