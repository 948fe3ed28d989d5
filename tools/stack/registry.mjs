#!/usr/bin/env node
// The local schema registry: Apicurio Registry (in-memory or H2-file storage, its Confluent-compatible
// API under /apis/ccompat/v7), built from Maven Central by infra/apicurio/pom.xml into
// .local/apicurio/build when missing or when the pom or its build settings changed, and the JVM
// command that runs it. The one definition used by bootstrap, by the integration tests
// (libs/testing's startTestSchemaRegistry) and by `npm start -- --format avro|protobuf`.
// Node builtins only.
//
//   node tools/stack/registry.mjs build              build if needed; prints the jar's path
//   node tools/stack/registry.mjs command --port N   prints the command (JSON array) that runs it on 127.0.0.1:N
//   node tools/stack/registry.mjs run [--port 8081]  runs it in the foreground (Ctrl-C stops it)
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REGISTRY_POM = join(REPO_ROOT, 'infra', 'apicurio', 'pom.xml');
const INPUTS = [REGISTRY_POM, join(REPO_ROOT, 'infra', 'apicurio', 'src', 'main', 'resources', 'application.properties')];
const BUILD_DIR = join(REPO_ROOT, '.local', 'apicurio', 'build');
export const REGISTRY_JAR = join(BUILD_DIR, 'local-apicurio-registry-1.0.0-runner.jar');
/** The Confluent-compatible API's path on the registry. */
export const CCOMPAT_PATH = '/apis/ccompat/v7';

function inputsDigest() {
  const hash = createHash('sha256');
  for (const f of INPUTS) hash.update(readFileSync(f));
  return hash.digest('hex');
}

/** The runnable jar; builds it with Maven (about a minute, longer with an empty Maven cache) when needed. */
export function ensureRegistryBuild() {
  const stamp = join(BUILD_DIR, '.inputs.sha256');
  const digest = inputsDigest();
  if (existsSync(REGISTRY_JAR) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest) return { jar: REGISTRY_JAR, built: false };
  const mvn = spawnSync('mvn', ['-q', '-B', '-f', REGISTRY_POM, '-DskipTests', 'package'], { encoding: 'utf8', timeout: 20 * 60_000 });
  if (mvn.error) throw new Error(`Maven (mvn) is needed to build the schema registry from ${REGISTRY_POM}: ${mvn.error.message} (Debian: apt-get install -y maven)`);
  if (mvn.status !== 0 || !existsSync(REGISTRY_JAR)) throw new Error(`Maven could not build the schema registry from ${REGISTRY_POM} (exit ${mvn.status}):\n${(mvn.stdout + mvn.stderr).slice(-3000)}`);
  writeFileSync(stamp, `${digest}\n`);
  return { jar: REGISTRY_JAR, built: true };
}

/**
 * The command that runs the registry on 127.0.0.1:port. Storage is in memory unless the
 * environment sets REGISTRY_DATASOURCE_URL (e.g. jdbc:h2:file:/dir/registry_db: it survives a restart).
 */
export function registryCommand(jar, port) {
  return [
    'java',
    // A small, quickly started JVM (about 3 s, 210 MB): the registry serves a handful of schemas.
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

function portArg(argv, fallback) {
  const i = argv.indexOf('--port');
  const port = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write('usage: node tools/stack/registry.mjs build | command --port N | run [--port N]\n');
    process.exit(2);
  }
  return port;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, ...rest] = process.argv.slice(2);
  try {
    if (command === 'build') {
      const { jar, built } = ensureRegistryBuild();
      process.stdout.write(`${jar}\n`);
      process.stderr.write(`[registry] ${built ? 'built' : 'up to date'}: ${jar}\n`);
    } else if (command === 'command') {
      process.stdout.write(`${JSON.stringify(registryCommand(ensureRegistryBuild().jar, portArg(rest)))}\n`);
    } else if (command === 'run') {
      const port = portArg(rest, 8081);
      const [java, ...args] = registryCommand(ensureRegistryBuild().jar, port);
      process.stderr.write(`[registry] http://127.0.0.1:${port}${CCOMPAT_PATH}\n`);
      const child = spawn(java, args, { stdio: 'inherit' });
      for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill('SIGTERM'));
      child.on('exit', (code) => process.exit(code ?? 0));
    } else {
      process.stderr.write('usage: node tools/stack/registry.mjs build | command --port N | run [--port N]\n');
      process.exit(2);
    }
  } catch (err) {
    process.stderr.write(`[registry] ${err.message}\n`);
    process.exit(1);
  }
}
