import type { MigrationTarget } from './migrations';

/** A synchronous SQL session such as chdb's `Session` (an embedded current ClickHouse). */
export interface SqlSession {
  query(sql: string, format?: string): string;
}

/**
 * The migration runner's view of an embedded engine, so that tests on current
 * ClickHouse (chdb) get their schema the way every server does: through
 * applyMigrations, recorded in `schema_migrations`. No I/O of its own.
 */
export function sessionMigrationTarget(session: SqlSession, name = 'embedded'): MigrationTarget {
  return {
    config: { url: name, urls: [name] },
    command: async (sql) => {
      session.query(sql);
    },
    queryRows: async <T>(sql: string) =>
      session
        .query(sql, 'JSONEachRow')
        .split('\n')
        .filter((line) => line.trim().length > 0)
        .map((line) => JSON.parse(line) as T),
    insertJsonEachRow: async (table, rows) => {
      if (rows.length === 0) return;
      session.query(`INSERT INTO ${table} FORMAT JSONEachRow ${rows.map((r) => JSON.stringify(r)).join('\n')}`);
    },
  };
}
