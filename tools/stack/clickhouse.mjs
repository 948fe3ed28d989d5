// ClickHouse from the Debian package (18.16 here), run as a plain user process with a config
// rendered from clickhouse/server/*.template into the state dir. Also: applying
// clickhouse/init/*.sql over HTTP.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StackError, say, seconds, shortPath } from './log.mjs';
import { findOnPath } from './process.mjs';
import { clickhouseReady, httpRequest } from './readiness.mjs';
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

/**
 * Splits a .sql file into statements: a statement ends with `;` at the end of a line; whole-line
 * `--` comments are dropped; blank statements are skipped. (The HTTP interface takes exactly one
 * statement per request.)
 */
export function splitStatements(sql) {
  const statements = [];
  let current = [];
  const flush = () => {
    const text = current.join('\n').trim();
    if (text) statements.push(text);
    current = [];
  };
  for (const line of sql.split(/\r?\n/)) {
    if (/^\s*--/.test(line)) continue;
    if (/;\s*$/.test(line)) {
      current.push(line.replace(/;\s*$/, ''));
      flush();
    } else {
      current.push(line);
    }
  }
  flush();
  return statements;
}

export async function query(cfg, sql, timeoutMs = 60_000) {
  const res = await httpRequest(`http://${cfg.host}:${cfg.ports.clickhouseHttp}/`, { method: 'POST', body: sql, timeoutMs });
  if (res.status !== 200) {
    const err = new Error(res.body.trim().split('\n')[0] || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return res.body;
}

/** Applies clickhouse/init/*.sql in lexical order. The files are idempotent (IF NOT EXISTS). */
export async function applySchema(cfg) {
  const t0 = Date.now();
  const dir = cfg.clickhouse.initDir;
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sql')).sort() : [];
  if (files.length === 0) {
    say(`clickhouse schema: no ${shortPath(dir)}/*.sql files yet; skipped`);
    return;
  }
  try {
    await clickhouseReady(cfg.host, cfg.ports.clickhouseHttp, 2000);
  } catch (err) {
    throw new StackError(`ClickHouse is not answering on ${cfg.host}:${cfg.ports.clickhouseHttp} (${err.message}); run \`node tools/stack/stack.mjs up\` first.`);
  }
  let count = 0;
  for (const file of files) {
    for (const statement of splitStatements(readFileSync(join(dir, file), 'utf8'))) {
      try {
        await query(cfg, statement);
      } catch (err) {
        const head = statement.split('\n').find((l) => l.trim()) ?? '';
        throw new StackError(`ClickHouse rejected a statement in ${shortPath(join(dir, file))} (${head.trim().slice(0, 80)}): ${err.message}`);
      }
      count++;
    }
  }
  say(`clickhouse schema: applied ${files.length} file(s), ${count} statement(s) from ${shortPath(dir)} [${seconds(Date.now() - t0)}]`);
}
