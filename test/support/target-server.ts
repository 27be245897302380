/**
 * A real local HTTP target for replay tests (docs/architecture.md, Tests): it records what arrived and when, so
 * tests can assert order, headers, bodies and pacing against what a replayer actually sent.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface RecordedRequest {
  method: string;
  /** Path and query as sent, e.g. `/a?b=1`. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Request body decoded as UTF-8 ('' when none). */
  body: string;
  /**
   * Wall-clock arrival time in ms since the epoch, with sub-ms precision
   * (performance.now() + performance.timeOrigin), taken when the request head arrived.
   */
  at: number;
}

export interface TargetOptions {
  /** Delay before replying, in ms; a function is called once per request. 0 = reply at once. */
  latencyMs?: number | (() => number);
  /** Status code of every reply (default 200). */
  status?: number;
  /** Address to listen on (default 127.0.0.1); a test network's hub address for test hosts. */
  host?: string;
}

export interface TargetHandle extends AsyncDisposable {
  /** Origin, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  readonly url: string;
  /** Every complete request in arrival order; the array is appended to as requests arrive. */
  readonly requests: RecordedRequest[];
  count(): number;
  /** Bytes read from and written to this server's connections so far (what clients sent and got). */
  wireBytes(): { read: number; written: number };
  /** Close the server and every connection, idle keep-alive ones included. Idempotent; also what `await using` calls. */
  close(): Promise<void>;
}

export async function startTarget(opts: TargetOptions = {}): Promise<TargetHandle> {
  const status = opts.status ?? 200;
  const latency = opts.latencyMs ?? 0;
  const requests: RecordedRequest[] = [];
  // Replies waiting out their latency; cleared on close so no timer outlives the server.
  const pending = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    const at = performance.now() + performance.timeOrigin;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // Recorded once the body is complete, so a test that sees count() reach n also sees whole
      // bodies. Order is still arrival order: HTTP/1.1 requests on one connection are serial,
      // and across connections the small test bodies complete in the tick they arrive.
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at,
      });
      const reply = (): void => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end('ok\n');
      };
      const delay = typeof latency === 'function' ? latency() : latency;
      // Latency counts from arrival of the head, like a real server's service time.
      const wait = Math.max(0, at + delay - (performance.now() + performance.timeOrigin));
      if (delay <= 0) {
        reply();
      } else {
        const t = setTimeout(() => {
          pending.delete(t);
          reply();
        }, wait);
        pending.add(t);
      }
    });
  });
  const sockets = new Set<Socket>();
  const closedBytes = { read: 0, written: 0 };
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => {
      sockets.delete(s);
      closedBytes.read += s.bytesRead;
      closedBytes.written += s.bytesWritten;
    });
  });
  // Replayers hold many keep-alive connections open at once; defaults would drop or refuse some.
  server.keepAliveTimeout = 60_000;
  server.maxConnections = 100_000;
  // No per-request time limit: a slow test machine must not turn into 408s.
  server.requestTimeout = 0;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      for (const t of pending) clearTimeout(t);
      pending.clear();
      // server.close() alone waits for idle keep-alive sockets to time out (60 s here).
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    requests,
    count: () => requests.length,
    wireBytes() {
      const b = { ...closedBytes };
      for (const s of sockets) {
        b.read += s.bytesRead;
        b.written += s.bytesWritten;
      }
      return b;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
