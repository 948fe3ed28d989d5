/**
 * A real schema registry for integration tests: Apicurio Registry (its
 * Confluent-compatible API under /apis/ccompat/v7), built once from Maven
 * Central by infra/apicurio/pom.xml (tools/stack/registry.mjs), run from its
 * jar on a free port.
 * Its storage is an H2 file in a private folder, so a test can stop and start
 * it again (an outage) and find the schemas it had; the folder dies with it.
 *
 * SCHEMA_REGISTRY_URL in the environment (e.g. a registry npm test started)
 * is used as it is by getTestSchemaRegistry(); tests that stop the registry
 * always start their own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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

/**
 * The command that runs the registry on `port`, building it first when
 * needed: tools/stack/registry.mjs holds the one definition of both.
 */
export function registryCommand(port: number): string[] {
  const script = path.join(workspaceRoot(), 'tools', 'stack', 'registry.mjs');
  const res = spawnSync(process.execPath, [script, 'command', '--port', String(port)], { encoding: 'utf8', timeout: 20 * 60_000 });
  if (res.status !== 0) throw new Error(`cannot build the schema registry (node ${script} command):\n${res.stderr.slice(-3000)}`);
  return JSON.parse(res.stdout) as string[];
}

export async function startTestSchemaRegistry(): Promise<TestSchemaRegistry> {
  const port = await freePort();
  const [java, ...args] = registryCommand(port);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-registry-'));
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  const log = path.join(dir, 'registry.log');
  let child: ChildProcess | undefined;
  const kill = () => child?.kill('SIGKILL');
  process.once('exit', kill);

  const start = async () => {
    const out = fs.openSync(log, 'a');
    child = spawn(java, args, {
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
