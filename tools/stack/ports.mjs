// Is a TCP port free for us, and if not, who holds it?
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { commandLine } from './process.mjs';

/**
 * Tries to bind host:port the way the servers will. Binding (rather than connecting) also
 * catches listeners on 0.0.0.0 and sockets that accept slowly.
 */
export function isPortFree(port, host = '127.0.0.1') {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

/** A port free on loopback right now. */
export function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

/**
 * Best effort: the pid listening on a port, found through /proc/net/tcp{,6} socket inodes and
 * /proc/<pid>/fd links. Only used to make the "port in use" message more helpful; returns null
 * when unknown (not Linux, or not allowed to look).
 */
export function listenerOf(port) {
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const localPort = parseInt(cols[1].split(':')[1], 16);
      // State 0A is LISTEN.
      if (localPort === port && cols[3] === '0A') inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return null;
  let pids;
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds;
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) {
          const [exe = '?', ...args] = commandLine(Number(pid));
          return { pid: Number(pid), command: [exe.split('/').pop(), ...args.slice(0, 2)].join(' ') };
        }
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return null;
}

/** "pid 123: python3 -m http.server", or '' when unknown. */
export function describeListener(port) {
  const who = listenerOf(port);
  if (!who) return '';
  const cmd = who.command.length > 60 ? `${who.command.slice(0, 57)}...` : who.command;
  return `pid ${who.pid}: ${cmd}`;
}
