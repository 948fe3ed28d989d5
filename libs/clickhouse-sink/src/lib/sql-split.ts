/**
 * Splits a migration file into statements with the same rules as the stack
 * tool: lines whose first non-blank characters are `--` are dropped, and a
 * statement ends at a line whose last non-blank character is `;`.
 * Hence files must not put `;` at a line end inside strings or comments.
 * Text after the last `;` (other than blanks) is returned as a final statement.
 */
export function splitSqlStatements(sql: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  const flush = (): void => {
    const text = current.join('\n').trim();
    if (text.length > 0) statements.push(text);
    current = [];
  };
  for (const line of sql.replace(/\r\n?/g, '\n').split('\n')) {
    if (line.trimStart().startsWith('--')) continue;
    const trimmed = line.trimEnd();
    if (trimmed.endsWith(';')) {
      current.push(trimmed.slice(0, -1));
      flush();
    } else {
      current.push(line);
    }
  }
  flush();
  return statements;
}
