/**
 * A private nginx as the bench's independent target (issue 15): what users replay against is a
 * real server, not our own node:http one, and its access log is a clock no load generator under
 * test controls. Debian's `nginx` package (scripts/ensure-deps.sh installs it for the bench),
 * started here on a free loopback port with a temp prefix dir, 1 worker, `return 200` for every
 * path, and an access log of `$msec $request_uri` per request.
 *
 * `$msec` is nginx's cached time when it writes the log line, which for `return 200` is the same
 * event-loop turn in which it read the request: the request's arrival, at ms resolution, on the
 * machine's wall clock (the same clock Havok's `started_at` is taken on).
 *
 * It looks like the node target to the bench (`BenchTarget`): reset() marks the log's end,
 * stats() and arrivals() read what was logged since, so the same havok runner serves both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, openSync, readSync, closeSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import type { BenchTarget, TargetStats } from './types.js';
import { freePort } from '../shared/ports.js';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

/** One logged request: arrival (epoch ms, ms resolution) and the request URI as sent. */
export interface Arrival {
  at_ms: number;
  uri: string;
}

/** The whole nginx.conf of the bench target, every path under `prefix`. */
export function nginxConf(prefix: string, port: number): string {
  return `# Written by bench/nginx.ts for one bench run.
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  log_format bench '$msec $request_uri';
  # Unbuffered: a line is in the file when its request is answered, so a run's log is complete
  # as soon as the client is done.
  access_log ${prefix}/access.log bench;
  # nginx closes a keep-alive connection after 1,000 requests by default; every load generator
  # here would then pay reconnects that say more about the setting than about the tool.
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "ok"; }
  }
}
`;
}

/**
 * Access log lines `<sec>.<ms> <uri>` → arrivals. The ms are read as integers (no float
 * rounding); lines that do not match (a partial last line) are skipped.
 */
export function parseAccessLog(text: string): Arrival[] {
  const out: Arrival[] = [];
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    const dot = line.indexOf('.');
    if (sp < 0 || dot < 0 || dot > sp) continue;
    const sec = Number(line.slice(0, dot));
    const ms = Number(line.slice(dot + 1, sp));
    if (!Number.isInteger(sec) || !Number.isInteger(ms)) continue;
    out.push({ at_ms: sec * 1000 + ms, uri: line.slice(sp + 1) });
  }
  return out;
}

/** The bench log's line number from `?q=N` (bench/generate-log.ts urlOf), or -1. */
export function lineOf(uri: string): number {
  const at = uri.indexOf('?q=');
  if (at < 0) return -1;
  const end = uri.indexOf('&', at);
  const n = Number(uri.slice(at + 3, end < 0 ? undefined : end));
  return Number.isInteger(n) ? n : -1;
}

/** Count and first/last arrival of a set of arrivals (0 when none). */
export function statsOf(arrivals: readonly Arrival[]): TargetStats {
  let first = Infinity;
  let last = 0;
  for (const a of arrivals) {
    if (a.at_ms < first) first = a.at_ms;
    if (a.at_ms > last) last = a.at_ms;
  }
  return { count: arrivals.length, first_at: arrivals.length ? first : 0, last_at: last };
}

export interface Nginx extends BenchTarget {
  port: number;
  logPath: string;
  /** Everything logged since the last reset(). */
  logged(): Arrival[];
}

/** A loopback port nothing listens on right now. */
async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Reads `path` from byte `from` to its end. */
function readFrom(path: string, from: number): string {
  const size = statSync(path).size;
  if (size <= from) return '';
  const buf = Buffer.allocUnsafe(size - from);
  const fd = openSync(path, 'r');
  try {
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    return buf.toString('latin1', 0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * Starts nginx under `dir/nginx` and waits until it accepts connections. `track` registers the
 * master process with the bench, so an exit or Ctrl-C of the bench stops it.
 */
export async function startNginx(dir: string, track: (c: ChildProcess) => ChildProcess): Promise<Nginx> {
  const prefix = join(dir, 'nginx');
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const port = await freePort();
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConf(prefix, port));
  const logPath = join(prefix, 'access.log');
  writeFileSync(logPath, '');
  // -e: the error log before the config is read (the default, /var/log/nginx, is root's).
  const proc = track(spawn(NGINX_BIN, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const spawnFailed = once(proc, 'error').then(([e]) => {
    throw new Error(`nginx (${NGINX_BIN}) did not start: ${(e as Error).message}; is Debian's nginx installed (scripts/ensure-deps.sh bench)?`);
  });
  spawnFailed.catch(() => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}: ${stderr}`);
    if (await Promise.race([accepts(port), spawnFailed])) break;
    if (Date.now() > deadline) throw new Error(`nginx did not accept on port ${port} within 10 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  let mark = statSync(logPath).size;
  const logged = (): Arrival[] => parseAccessLog(readFrom(logPath, mark));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    logPath,
    logged,
    async reset() {
      mark = statSync(logPath).size;
    },
    async stats() {
      return statsOf(logged());
    },
    async arrivals() {
      const flat: number[] = [];
      for (const a of logged()) {
        const q = lineOf(a.uri);
        if (q >= 0) flat.push(q, a.at_ms);
      }
      return flat;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      // SIGQUIT: nginx's graceful stop (the worker finishes writing its log lines).
      proc.kill('SIGQUIT');
      const hard = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await once(proc, 'exit');
      clearTimeout(hard);
    },
  };
}
