import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveRegistryConnection } from './options';

describe('resolveRegistryConnection', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'registry-options-'));
  const passwordFile = path.join(dir, 'password');
  fs.writeFileSync(passwordFile, 's3cret\n');
  const ca = path.join(dir, 'ca.pem');
  fs.writeFileSync(ca, 'PEM');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is undefined without a URL for JSON, and a usage sentence for a binary format', () => {
    expect(resolveRegistryConnection({ schemaRegistryUrl: '' })).toBeUndefined();
    expect(() => resolveRegistryConnection({ schemaRegistryUrl: '' }, 'avro')).toThrow(/--format avro needs a schema registry: set SCHEMA_REGISTRY_URL/);
  });

  it('reads the password file and the CA once, and never shows the password', () => {
    const c = resolveRegistryConnection({ schemaRegistryUrl: 'https://sr:8081/', schemaRegistryUser: 'app', schemaRegistryPasswordFile: passwordFile, schemaRegistryCaCert: ca });
    expect(c).toMatchObject({ url: 'https://sr:8081', username: 'app', password: 's3cret' });
    expect(c?.caCert?.toString()).toBe('PEM');
    expect(JSON.stringify(c)).not.toContain('s3cret');
  });

  it.each([
    [{ schemaRegistryUrl: 'http://sr:8081', schemaRegistryPassword: 'a', schemaRegistryPasswordFile: passwordFile, schemaRegistryUser: 'u' }, /not both/],
    [{ schemaRegistryUrl: 'http://sr:8081', schemaRegistryPassword: 'a' }, /needs --schema-registry-user/],
    [{ schemaRegistryUrl: 'http://sr:8081', schemaRegistryCaCert: ca }, /needs an https:\/\//],
    [{ schemaRegistryUrl: 'https://sr:8081', schemaRegistryCaCert: path.join(dir, 'none.pem') }, /Cannot read --schema-registry-ca-cert .*ENOENT/],
  ])('refuses %o', (o, msg) => {
    expect(() => resolveRegistryConnection(o)).toThrow(msg);
  });
});
