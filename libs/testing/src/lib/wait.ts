/** Polling helpers for integration tests that watch real processes. */

/** Polls `cond` until it holds; fails naming what it waited for. */
export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 120000, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** One metric from an app's /metrics page, summed over its labels; NaN when the page is unreachable. */
export async function scrapeMetric(port: number, name: string): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) if (!line.startsWith('#') && line.split(/[{ ]/)[0] === name) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    return sum;
  } catch {
    return NaN;
  }
}
