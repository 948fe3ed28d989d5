/**
 * Runs SQL over ClickHouse's HTTP interface exactly as given (no client
 * library rewriting it), returning column names, rows and read statistics.
 * Works with 18.16 and current servers.
 */
export interface QueryResult {
  columns: string[];
  types: string[];
  rows: unknown[][];
  rowsRead: number;
}

export class ClickHouseHttpError extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

export interface HttpTarget {
  url: string;
  user?: string;
  password?: string;
}

/** Splits credentials embedded in a URL (http://user:pass@host:port) off the URL. */
export function httpTarget(url: string, user?: string, password?: string): HttpTarget {
  const u = new URL(url);
  const embeddedUser = decodeURIComponent(u.username);
  const embeddedPassword = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { url: u.toString().replace(/\/$/, ''), user: user ?? (embeddedUser || undefined), password: password ?? (embeddedUser ? embeddedPassword : undefined) };
}

export async function clickhouseQuery(target: HttpTarget, sql: string, params: Record<string, string> = {}): Promise<QueryResult> {
  const text = await clickhouseExec(target, `${sql}\nFORMAT JSONCompact`, params);
  const json = JSON.parse(text) as { meta: Array<{ name: string; type: string }>; data: unknown[][]; statistics?: { rows_read?: number } };
  return {
    columns: json.meta.map((m) => m.name),
    types: json.meta.map((m) => m.type),
    rows: json.data,
    rowsRead: Number(json.statistics?.rows_read ?? NaN),
  };
}

export async function clickhouseExec(target: HttpTarget, sql: string, params: Record<string, string> = {}): Promise<string> {
  const qs = new URLSearchParams(params).toString();
  const headers: Record<string, string> = {};
  if (target.user !== undefined) headers['Authorization'] = `Basic ${Buffer.from(`${target.user}:${target.password ?? ''}`).toString('base64')}`;
  const res = await fetch(`${target.url}/${qs ? `?${qs}` : ''}`, { method: 'POST', body: sql, headers });
  const text = await res.text();
  if (!res.ok) {
    const code = /Code: (\d+)/.exec(text)?.[1];
    throw new ClickHouseHttpError(`ClickHouse HTTP ${res.status}: ${text.trim().slice(0, 500)}\n--- query ---\n${sql}`, code ? Number(code) : undefined);
  }
  return text;
}
