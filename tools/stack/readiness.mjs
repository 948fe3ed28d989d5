// "Ready" means the server answers a real request, not merely that its port is open:
// Kafka must return metadata (kafka-client.mjs), ClickHouse must answer /ping with "Ok.".
import { request } from 'node:http';
import { kafkaReady } from './kafka-client.mjs';
import { sleep } from './process.mjs';

/** Minimal HTTP client (node:http is enough; `status` runs before `npm install`). */
export function httpRequest(url, { method = 'GET', body, timeoutMs = 5000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolvePromise({ status: res.statusCode, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function clickhouseReady(host, httpPort, timeoutMs = 2000) {
  const res = await httpRequest(`http://${host}:${httpPort}/ping`, { timeoutMs });
  if (res.status !== 200 || res.body.trim() !== 'Ok.') throw new Error(`/ping answered ${res.status} ${res.body.trim().slice(0, 80)}`);
  return true;
}

export { kafkaReady };

/** One probe attempt as a boolean; failures are expected while a server starts. */
export async function probeOnce(probe) {
  try {
    await probe();
    return true;
  } catch {
    return false;
  }
}

/**
 * Polls `probe` until it succeeds, `timeoutMs` passes, or `gaveUp()` says there is no point
 * (the process died). Resolves to {ready, reason, lastError}.
 */
export async function waitUntilReady(probe, { timeoutMs, intervalMs = 300, gaveUp = () => null }) {
  const deadline = Date.now() + timeoutMs;
  let lastError = null;
  for (;;) {
    try {
      await probe();
      return { ready: true };
    } catch (err) {
      lastError = err;
    }
    const reason = gaveUp();
    if (reason) return { ready: false, reason, lastError };
    if (Date.now() >= deadline) return { ready: false, reason: 'timeout', lastError };
    await sleep(intervalMs);
  }
}
