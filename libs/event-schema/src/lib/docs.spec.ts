import fs from 'node:fs';
import path from 'node:path';
import { renderFieldTable, renderReasonTable } from './docs';

// The README's tables are generated from the schema and the reason codes.
// Regenerate with: UPDATE_README=1 npx nx test event-schema --testFile=docs.spec.ts
const README = path.join(__dirname, '../../README.md');

function section(text: string, name: string): string {
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(text);
  if (!m) throw new Error(`README.md has no <!-- ${name}:start --> ... <!-- ${name}:end --> block`);
  return m[1];
}

describe('README', () => {
  const generated = { fields: renderFieldTable(), reasons: renderReasonTable() };

  if (process.env['UPDATE_README']) {
    let text = fs.readFileSync(README, 'utf8');
    for (const [name, body] of Object.entries(generated)) {
      text = text.replace(new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`), (_, a: string, b: string) => `${a}\n${body}\n${b}`);
    }
    fs.writeFileSync(README, text);
  }

  it.each(Object.keys(generated) as Array<keyof typeof generated>)('has the %s table generated from the schema', (name) => {
    expect(section(fs.readFileSync(README, 'utf8'), name)).toBe(generated[name]);
  });

  it('documents every status value', () => {
    expect(generated.fields).toContain('`ok`, `warning`, `error`, `offline`');
  });
});
