/**
 * A real schema registry for integration tests: Apicurio Registry (its
 * Confluent-compatible API under /apis/ccompat/v7), built once from Maven
 * Central by infra/apicurio/pom.xml into .local/apicurio/build (rebuilt when
 * the pom or its build settings change), run from its jar on a free port.
 * Its storage is an H2 file in a private folder, so a test can stop and start
 * it again (an outage) and find the schemas it had; the folder dies with it.
 *
 * SCHEMA_REGISTRY_URL in the environment (e.g. a registry npm test started)
 * is used as it is by getTestSchemaRegistry(); tests that stop the registry
 * always start their own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, workspaceRoot } from './endpoints';

export interface TestSchemaRegistry {
  /** The Confluent-compatible base URL (SCHEMA_REGISTRY_URL). */
  url: string;
  /** Stops the process (SIGTERM, then SIGKILL); the storage stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage, resolving once it answers. */
  start(): Promise<void>;
  /** Stops it for good and removes its storage. */
  close(): Promise<void>;
}

/** The runnable jar, building it with Maven when missing or when its inputs changed. */
export function ensureApicurioBuild(): string {
  const root = workspaceRoot();
  const dir = path.join(root, 'infra', 'apicurio');
  const inputs = [path.join(dir, 'pom.xml'), path.join(dir, 'src', 'main', 'resources', 'application.properties')];
  const build = path.join(root, '.local', 'apicurio', 'build');
  const jar = path.join(build, 'local-apicurio-registry-1.0.0-runner.jar');
  const stamp = path.join(build, '.inputs.sha256');
  const hash = createHash('sha256');
  for (const f of inputs) hash.update(fs.readFileSync(f));
  const digest = hash.digest('hex');
  if (fs.existsSync(jar) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === digest) return jar;
  const mvn = spawnSync('mvn', ['-q', '-B', '-f', path.join(dir, 'pom.xml'), '-DskipTests', 'package'], { encoding: 'utf8', timeout: 15 * 60_000 });
  if (mvn.error) throw new Error(`Maven (mvn) is needed to build the schema registry from ${dir}/pom.xml: ${mvn.error.message} (Debian: apt-get install -y maven)`);
  if (mvn.status !== 0 || !fs.existsSync(jar)) throw new Error(`Maven could not build the schema registry from ${dir}/pom.xml (exit ${mvn.status}):\n${(mvn.stdout + mvn.stderr).slice(-3000)}`);
  fs.writeFileSync(stamp, `${digest}\n`);
  return jar;
}

/** The JVM command line of the registry on `port`, storing in `dataDir` (also used by the stack tool's docs). */
export function registryCommand(jar: string, port: number): string[] {
  return [
    // A small, quickly started JVM: the registry serves a handful of schemas.
    '-Xmx256m',
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-Dquarkus.http.host=127.0.0.1',
    `-Dquarkus.http.port=${port}`,
    '-Dquarkus.datasource.jdbc.min-size=1',
    '-Dquarkus.datasource.jdbc.initial-size=1',
    '-jar',
    jar,
  ];
}

export async function startTestSchemaRegistry(): Promise<TestSchemaRegistry> {
  const jar = ensureApicurioBuild();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-registry-'));
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  const log = path.join(dir, 'registry.log');
  let child: ChildProcess | undefined;
  const kill = () => child?.kill('SIGKILL');
  process.once('exit', kill);

  const start = async () => {
    const out = fs.openSync(log, 'a');
    child = spawn('java', registryCommand(jar, port), {
      cwd: dir,
      stdio: ['ignore', out, out],
      env: { ...process.env, REGISTRY_DATASOURCE_URL: `jdbc:h2:file:${path.join(dir, 'registry_db')}` },
    });
    fs.closeSync(out);
    const c = child;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`the schema registry exited with ${c.exitCode}:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
      try {
        const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`the schema registry did not answer on ${url} within 120 s:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  await start();
  return {
    url,
    stop,
    start,
    close: async () => {
      await stop();
      process.removeListener('exit', kill);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

let shared: Promise<{ url: string; close?: () => Promise<void> }> | undefined;

/** The run's registry: SCHEMA_REGISTRY_URL when set, else one started for this test process. */
export function getTestSchemaRegistry(): Promise<{ url: string; close?: () => Promise<void> }> {
  const fromEnv = process.env['SCHEMA_REGISTRY_URL'];
  shared ??= fromEnv ? Promise.resolve({ url: fromEnv }) : startTestSchemaRegistry();
  return shared;
}
