/**
 * The SQL views that count dead letters per minute classify reasons as
 * invalid, late or future. The one definition of that classification is
 * event-schema's deadLetterClassOf; this checks the newest definition of
 * every such view in clickhouse/init against it, for every reason code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { deadLetterClassOf, REASON_CODE_LIST, type DeadLetterClass } from '@stream-analytics/event-schema';
import { findMigrationsDir } from './migrations';

/** The newest CREATE VIEW of each view that counts dead letters by reason, with its file. */
function deadLetterCountingViews(): Array<{ file: string; view: string; sql: string }> {
  const dir = findMigrationsDir();
  const newest = new Map<string, { file: string; view: string; sql: string }>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const m of text.matchAll(/CREATE VIEW IF NOT EXISTS (\S+) AS([\s\S]*?);/g)) {
      newest.set(m[1], { file, view: m[1], sql: m[2] });
    }
  }
  return [...newest.values()].filter((v) => /countIf\(d_reason/.test(v.sql));
}

/** Evaluates the view's countIf conditions for one reason: which of the counted columns it falls in. */
function sqlClassOf(sql: string, reason: string): DeadLetterClass[] {
  const out: DeadLetterClass[] = [];
  const columns: Array<[DeadLetterClass, string]> = [
    ['invalid', 'invalid_events'],
    ['late', 'late_events'],
    ['future', 'future_events'],
  ];
  for (const [cls, column] of columns) {
    const m = new RegExp(`countIf\\(d_reason (=|!=|IN|NOT IN) \\(?([^)]*?)\\)?\\) AS ${column}`).exec(sql);
    if (!m) continue;
    const listed = m[2].split(',').map((s) => s.trim().replace(/^'|'$/g, ''));
    const hit = m[1] === '=' || m[1] === 'IN' ? listed.includes(reason) : !listed.includes(reason);
    if (hit) out.push(cls);
  }
  return out;
}

describe('dead-letter classification in SQL', () => {
  const views = deadLetterCountingViews();

  it('finds the views that count dead letters by reason', () => {
    expect(views.map((v) => v.view)).toContain('stream_analytics.iot_minute_dead_letters_merged');
  });

  it.each(REASON_CODE_LIST)('counts %s in exactly the class deadLetterClassOf gives, in every such view', (reason) => {
    for (const v of views) {
      expect({ view: v.view, file: v.file, classes: sqlClassOf(v.sql, reason) }).toEqual({ view: v.view, file: v.file, classes: [deadLetterClassOf(reason)] });
    }
  });
});
