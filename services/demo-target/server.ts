/**
 * `havok demo-target`: a built-in HTTP server to replay against, so a first run needs nothing but
 * Havok. It answers fast and deterministically (no randomness), so two runs of the same log give
 * the same report, yet the report still shows some errors and a slow path to look at.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../shared/log.js';

export interface DemoTargetOptions {
  /** TCP port; 0 = any free port (see the returned url). */
  port: number;
  /**
   * Interface to bind (default 127.0.0.1: a demo should not be reachable from the network unless
   * asked; pass 0.0.0.0 when replayers run on other machines).
   */
  host?: string;
  /** Service time of an ordinary request, in ms (default 2). 0 = reply at once. */
  latencyMs?: number;
  log?: Logger;
}

export interface DemoTargetStats {
  requests: number;
  byMethod: Record<string, number>;
  /** Keyed by status code as a string, e.g. { "200": 10, "404": 2 }. */
  byStatus: Record<string, number>;
}

export interface DemoTarget {
  /** Base URL to give the replayer, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** Stop listening and drop every connection, keep-alive ones included. Idempotent. */
  close(): Promise<void>;
  stats(): DemoTargetStats;
}

/** Service time of paths containing `/slow`, in ms: long enough to stand out in latency quantiles. */
export const DEMO_SLOW_MS = 50;

/**
 * What the demo target answers for a path (query already removed). Pure, so the CLI's help text
 * and the tests can rely on it without a server.
 *  - 404 for `*.php` and anything containing `/404`: access logs are full of scanner probes for
 *    .php files, so a replayed log naturally shows some errors in the report.
 *  - `/slow` anywhere in the path waits DEMO_SLOW_MS instead of the base latency.
 */
export function demoResponse(pathname: string, baseLatencyMs: number): { status: number; latencyMs: number } {
  const status = pathname.endsWith('.php') || pathname.includes('/404') ? 404 : 200;
  const latencyMs = pathname.includes('/slow') ? DEMO_SLOW_MS : baseLatencyMs;
  return { status, latencyMs };
}

export async function startDemoTarget(opts: DemoTargetOptions): Promise<DemoTarget> {
  const host = opts.host ?? '127.0.0.1';
  const baseLatency = opts.latencyMs ?? 2;
  const log = opts.log;
  const stats: DemoTargetStats = { requests: 0, byMethod: {}, byStatus: {} };
  // Replies waiting out their latency; cleared on close so no timer outlives the server.
  const pending = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    const method = req.method ?? 'UNKNOWN';
    // Only the path decides the answer; the base is a placeholder for URL parsing.
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://demo.invalid').pathname;
    } catch {
      pathname = req.url ?? '/';
    }
    const { status, latencyMs } = demoResponse(pathname, baseLatency);
    stats.requests++;
    stats.byMethod[method] = (stats.byMethod[method] ?? 0) + 1;
    stats.byStatus[String(status)] = (stats.byStatus[String(status)] ?? 0) + 1;

    const body = JSON.stringify(status === 200 ? { ok: true } : { ok: false, error: 'not found' });
    const reply = (): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    // Read and discard any request body: an unread body would stall the keep-alive connection.
    req.resume();
    req.once('end', () => {
      if (latencyMs <= 0) {
        reply();
        return;
      }
      const t = setTimeout(() => {
        pending.delete(t);
        reply();
      }, latencyMs);
      pending.add(t);
    });
    log?.trace({ method, url: req.url, status }, 'demo-target request');
  });
  // Replayers keep many connections open; the defaults (5 s keep-alive) would churn them.
  server.keepAliveTimeout = 60_000;
  server.maxConnections = 100_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new Error(`demo-target cannot listen on ${host}:${opts.port}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  // A wildcard bind cannot be dialled as such; show the loopback address that reaches it.
  const shownHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}`;
  log?.info({ url, host, port, latencyMs: baseLatency, slowMs: DEMO_SLOW_MS }, 'demo-target listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    stats: () => ({ requests: stats.requests, byMethod: { ...stats.byMethod }, byStatus: { ...stats.byStatus } }),
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        for (const t of pending) clearTimeout(t);
        pending.clear();
        // close() alone would wait for idle keep-alive sockets to time out.
        server.close(() => {
          log?.info({ url, ...stats }, 'demo-target closed');
          resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
