import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mqttConnectionOptions, redactUrl, validateMqttUrl } from './mqtt';

describe('MQTT connection settings', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-spec-'));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const none = { url: 'mqtt://b:1883', username: '', password: '', passwordFile: '', caFile: '', certFile: '', keyFile: '' };

  it('passes credentials and TLS files, preferring the password file (trailing newline dropped)', () => {
    expect(mqttConnectionOptions(none)).toEqual({ rejectUnauthorized: true });
    const opts = mqttConnectionOptions({ ...none, username: 'gw', password: 'ignored', passwordFile: file('pw', 's3cret\n'), caFile: file('ca', 'CA'), certFile: file('c', 'CERT'), keyFile: file('k', 'KEY') });
    expect(opts).toMatchObject({ username: 'gw', password: 's3cret', rejectUnauthorized: true });
    expect(String(opts.ca)).toBe('CA');
    expect(String(opts.cert)).toBe('CERT');
    expect(String(opts.key)).toBe('KEY');
    expect(mqttConnectionOptions({ ...none, username: 'gw', password: 'pw' })).toMatchObject({ username: 'gw', password: 'pw' });
  });

  it('validates broker URLs and hides passwords in logs', () => {
    expect(validateMqttUrl('mqtt://127.0.0.1:1883')).toBeUndefined();
    expect(validateMqttUrl('mqtts://broker:8883')).toBeUndefined();
    expect(validateMqttUrl('')).toBeUndefined();
    expect(validateMqttUrl('http://broker')).toMatch(/not an mqtt/);
    expect(validateMqttUrl('broker:1883')).toMatch(/not an mqtt|not a URL/);
    expect(redactUrl('mqtt://gw:secret@broker:1883')).toBe('mqtt://gw:***@broker:1883');
  });
});
