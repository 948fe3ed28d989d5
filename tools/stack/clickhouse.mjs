// ClickHouse from the Debian package (18.16 here), run as a plain user process with a config
// rendered from clickhouse/server/*.template into the state dir. Also: applying the
// clickhouse/init schema with the project's migration runner.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { StackError, say, seconds, shortPath } from './log.mjs';
import { findOnPath } from './process.mjs';
import { clickhouseReady } from './readiness.mjs';
import { CLICKHOUSE_USERS, ensureCertificates, ensureSecrets, clickhouseHttpsConfig } from './security.mjs';

function findServerBinary(cfg) {
  if (cfg.clickhouse.serverBin) {
    if (!existsSync(cfg.clickhouse.serverBin)) throw new StackError(`CLICKHOUSE_SERVER_BIN points at ${cfg.clickhouse.serverBin}, which does not exist.`);
    return cfg.clickhouse.serverBin;
  }
  const found = findOnPath('clickhouse-server', ['/usr/sbin', '/usr/bin']);
  if (!found) {
    throw new StackError(
      'ClickHouse (clickhouse-server) was not found in /usr/sbin or on PATH; install it (Debian: apt-get install -y clickhouse-server clickhouse-client, or run bash tools/run/bootstrap.sh) and run again.',
    );
  }
  return found;
}

const xmlEscape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Replaces {{name}} placeholders; a placeholder without a value is a bug in the template. */
function render(templateFile, values) {
  const text = readFileSync(templateFile, 'utf8').replace(/\{\{(\w+)\}\}/g, (whole, key) => {
    if (!(key in values)) throw new StackError(`${shortPath(templateFile)} uses {{${key}}}, which tools/stack/clickhouse.mjs does not provide.`);
    return xmlEscape(values[key]);
  });
  return text;
}

function writeConfigs(cfg) {
  const c = cfg.clickhouse;
  for (const dir of [c.dir, c.dataDir, c.tmpDir, c.userFilesDir, c.formatSchemaDir, c.logDir]) mkdirSync(dir, { recursive: true });
  const values = {
    http_port: cfg.ports.clickhouseHttp,
    tcp_port: cfg.ports.clickhouseTcp,
    log_dir: c.logDir,
    data_dir: c.dataDir,
    tmp_dir: c.tmpDir,
    user_files_dir: c.userFilesDir,
    format_schema_dir: c.formatSchemaDir,
    users_config: c.users,
  };
  let config = render(join(c.templateDir, 'config.xml.template'), values);
  if (cfg.secured) {
    config = config.replace('</yandex>', `${clickhouseHttpsConfig(cfg)}</yandex>`);
    // The platform's writer and read-only users, with their passwords from the server's environment.
    const usersD = join(c.dir, 'users.d');
    mkdirSync(usersD, { recursive: true });
    copyFileSync(join(cfg.repoRoot, 'clickhouse', 'users.d', 'stream-analytics.xml'), join(usersD, 'stream-analytics.xml'));
  }
  writeFileSync(c.config, config);
  writeFileSync(c.users, render(join(c.templateDir, 'users.xml.template'), values));
}

/** The server's environment: the users' passwords for from_env (secured stack only). */
function serverEnv(cfg) {
  if (!cfg.secured) return undefined;
  const { clickhouse } = ensureSecrets(cfg);
  return { ...process.env, ...Object.fromEntries(Object.entries(CLICKHOUSE_USERS).map(([user, name]) => [name, clickhouse[user]])) };
}

export function clickhouseServer(cfg) {
  const c = cfg.clickhouse;
  let binary = null;
  return {
    name: 'clickhouse',
    title: 'ClickHouse',
    pidFile: c.pidFile,
    logFile: c.serverLog,
    errorLog: c.errorLog,
    marker: c.config,
    endpoint: `http://${cfg.host}:${cfg.ports.clickhouseHttp} (tcp ${cfg.ports.clickhouseTcp})`,
    ports: [
      { port: cfg.ports.clickhouseHttp, envName: 'CLICKHOUSE_HTTP_PORT' },
      { port: cfg.ports.clickhouseTcp, envName: 'CLICKHOUSE_TCP_PORT' },
      ...(cfg.secured ? [{ port: cfg.secured.clickhouseHttpsPort, envName: 'CLICKHOUSE_HTTPS_PORT' }] : []),
    ],
    async prepare() {
      binary = findServerBinary(cfg);
      if (cfg.secured) await ensureCertificates(cfg);
      writeConfigs(cfg);
    },
    command() {
      // Not --daemon: the process we spawn is the server, so its pid is the one we record.
      return { cmd: binary, args: [`--config-file=${c.config}`], cwd: c.dir, stdoutLog: c.stdoutLog, env: serverEnv(cfg) };
    },
    probe: (timeoutMs) => clickhouseReady(cfg.host, cfg.ports.clickhouseHttp, timeoutMs),
  };
}

// ---------------------------------------------------------------------------------------------
// Schema

// The schema is applied by the project's one migration runner (migrateSchema in
// libs/clickhouse-sink: each clickhouse/init file once, in order, recorded with its checksum in
// stream_analytics.schema_migrations), the same code the aggregator runs. `up` runs before
// anything is built, so esbuild (from node_modules, like the Kafka client) bundles the runner
// and its ClickHouse client into $STACK_DIR on use; that takes well under a second. The entry
// names the runner's own modules, not the library's index, which reaches the native Kafka client
// through libs/runtime.
const RUNNER_ENTRY = `
export { createClickHouseClient } from './libs/clickhouse-sink/src/lib/client';
export { migrateSchema } from './libs/clickhouse-sink/src/lib/migrations';
`;

const require = createRequire(import.meta.url);

async function loadRunner(cfg) {
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch (err) {
    throw new StackError(`esbuild is not installed (${err.code ?? err.message}); run bash tools/run/bootstrap.sh (or npm install) first.`);
  }
  const outfile = join(cfg.stateDir, 'schema-runner', 'runner.cjs');
  try {
    await esbuild.build({
      stdin: { contents: RUNNER_ENTRY, resolveDir: cfg.repoRoot, sourcefile: 'schema-runner.ts', loader: 'ts' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile,
      logLevel: 'silent',
    });
  } catch (err) {
    throw new StackError(`Could not bundle the migration runner (libs/clickhouse-sink) with esbuild: ${String(err.message).split('\n')[0]}`, {
      details: (err.errors ?? []).slice(0, 5).map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`),
    });
  }
  delete require.cache[outfile];
  return require(outfile);
}

/** Applies the clickhouse/init files not applied yet, with the project's migration runner. */
export async function applySchema(cfg) {
  const t0 = Date.now();
  const dir = cfg.clickhouse.initDir;
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sql')) : [];
  if (files.length === 0) {
    say(`clickhouse schema: no ${shortPath(dir)}/*.sql files yet; skipped`);
    return;
  }
  const url = `http://${cfg.host}:${cfg.ports.clickhouseHttp}`;
  try {
    await clickhouseReady(cfg.host, cfg.ports.clickhouseHttp, 2000);
  } catch (err) {
    throw new StackError(`ClickHouse is not answering on ${cfg.host}:${cfg.ports.clickhouseHttp} (${err.message}); run \`node tools/stack/stack.mjs up\` first.`);
  }
  const runner = await loadRunner(cfg);
  const client = runner.createClickHouseClient({ url });
  let result;
  try {
    result = await runner.migrateSchema(client, dir, {
      waitMs: 20_000,
      onRetry: (r) => say(`clickhouse schema: ClickHouse at ${url} is not usable yet (${String(r.error?.message ?? r.error).split('\n')[0]}); retrying in ${seconds(r.delayMs)}`),
    });
  } catch (err) {
    throw new StackError(`clickhouse schema not applied: ${err.message}`);
  } finally {
    await client.close();
  }
  const took = seconds(Date.now() - t0);
  if (result.applied.length === 0) {
    say(`clickhouse schema: up to date, nothing to apply (all ${result.skipped.length} file(s) of ${shortPath(dir)} already recorded in stream_analytics.schema_migrations) [${took}]`);
  } else {
    say(`clickhouse schema: applied ${result.applied.length} file(s) from ${shortPath(dir)} (${result.applied.join(', ')}), ${result.skipped.length} already applied [${took}]`);
  }
}
