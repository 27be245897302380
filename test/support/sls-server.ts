/**
 * A local Aliyun SLS endpoint that speaks GetLogs (API 0.6.0) over plain HTTP, for tests that run
 * the real `@alicloud/log` SDK against it. It checks each request as SLS does — the project in the
 * Host header, the date, the API version and the LOG signature, recomputed here from the request
 * itself (HMAC-SHA1 over verb, Content-MD5, Content-Type, Date, the sorted x-log-/x-acs- headers
 * and the path with its sorted, decoded query) — and answers with SLS-style JSON errors. Logs come
 * from an in-memory list, in the order given (tests shuffle them: SLS orders results only to the
 * minute). Faults (5xx, incomplete results, dropped connections) can be injected per request.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseQuery } from 'node:querystring';

export type SlsLog = Record<string, string | number>;

/** What a GetLogs request asked for, after the checks passed. */
export interface GetLogsCall {
  logstore: string;
  from: number;
  to: number;
  query: string;
  line: number;
  offset: number;
  reverse: boolean;
  /** Earlier requests with the same logstore, range, query, line and offset. */
  seen: number;
  /** Requests served before this one (all kinds), 0-based. */
  n: number;
}

/**
 * A fault for one request: an HTTP status answered with an SLS JSON error (`500`), a non-JSON
 * error page as a proxy would send (`502-html`), half the page marked `x-log-progress:
 * Incomplete`, or the connection closed without an answer.
 */
export type Fault = 500 | 503 | '502-html' | 'incomplete' | 'reset';

export interface SlsServerOptions {
  project: string;
  logstores: Record<string, SlsLog[]>;
  accessKeyId: string;
  accessKeySecret: string;
  /** Decides a fault per GetLogs request (after its signature checked); undefined = answer. */
  fault?: (call: GetLogsCall) => Fault | undefined;
  /** Answer delay, ms (lets tests see requests overlap). */
  delayMs?: number;
}

export interface SlsServerHandle {
  /** `http://localhost:<port>`: the SDK sends to `<project>.localhost:<port>`. */
  endpoint: string;
  port: number;
  /** GetLogs requests that passed the checks, in arrival order. */
  calls: GetLogsCall[];
  /** Requests refused, with the SLS error code. */
  rejected: Array<{ code: string; status: number; message: string }>;
  faults: Array<{ call: GetLogsCall; fault: Fault }>;
  /** Most GetLogs requests in progress at once. */
  maxConcurrent(): number;
  close(): Promise<void>;
}

/** The LOG signature of a request, computed independently of the SDK. */
export function slsSignature(secret: string, verb: string, path: string, query: Record<string, string>, headers: IncomingMessage['headers']): string {
  const h = (k: string): string => {
    const v = headers[k];
    return Array.isArray(v) ? v.join(',') : (v ?? '');
  };
  const canonicalHeaders = Object.keys(headers)
    .filter((k) => k.startsWith('x-log-') || k.startsWith('x-acs-'))
    .sort()
    .map((k) => `${k}:${h(k).trim()}\n`)
    .join('');
  const pairs = Object.entries(query)
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  const resource = pairs.length ? `${path}?${pairs.join('&')}` : path;
  const text = `${verb}\n${h('content-md5')}\n${h('content-type')}\n${h('date')}\n${canonicalHeaders}${resource}`;
  return createHmac('sha1', secret).update(text).digest('base64');
}

class SlsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** `*`, empty, or `key: value` terms joined by `and` (exact match on the field). */
function matcher(query: string): (log: SlsLog) => boolean {
  const q = query.trim();
  if (q === '' || q === '*') return () => true;
  const terms = q.split(/\s+and\s+/i).map((t) => {
    const m = /^([\w.]+)\s*:\s*"?([^"]*)"?$/.exec(t.trim());
    if (!m) throw new SlsError(400, 'InvalidQueryString', `query string is invalid: ${query}`);
    return [m[1], m[2]] as const;
  });
  return (log) => terms.every(([k, v]) => String(log[k]) === v);
}

export async function startSlsServer(opts: SlsServerOptions): Promise<SlsServerHandle> {
  const calls: GetLogsCall[] = [];
  const rejected: SlsServerHandle['rejected'] = [];
  const faults: SlsServerHandle['faults'] = [];
  const seen = new Map<string, number>();
  let active = 0;
  let maxActive = 0;
  let n = 0;

  function check(req: IncomingMessage, url: URL, query: Record<string, string>): void {
    const host = req.headers.host ?? '';
    if (!host.startsWith(`${opts.project}.`)) throw new SlsError(404, 'ProjectNotExist', `The Project does not exist : ${host.split('.')[0]}`);
    if (req.headers['x-log-apiversion'] !== '0.6.0') throw new SlsError(400, 'InvalidAPIVersion', `api version ${String(req.headers['x-log-apiversion'])} is not supported`);
    if (req.headers['x-log-signaturemethod'] !== 'hmac-sha1') throw new SlsError(400, 'InvalidSignatureMethod', 'signature method is not supported');
    const date = Date.parse(req.headers.date ?? '');
    if (Number.isNaN(date)) throw new SlsError(400, 'MissingDate', 'Date header is missing or invalid');
    if (Math.abs(Date.now() - date) > 15 * 60_000) throw new SlsError(400, 'RequestTimeTooSkewed', 'request time is too skewed from server time');
    const m = /^LOG ([^:]+):(.+)$/.exec(req.headers.authorization ?? '');
    if (!m) throw new SlsError(401, 'Unauthorized', 'authorization header is missing or malformed');
    if (m[1] !== opts.accessKeyId) throw new SlsError(401, 'Unauthorized', `AccessKeyId not found: ${m[1]}`);
    const expected = slsSignature(opts.accessKeySecret, req.method ?? 'GET', url.pathname, query, req.headers);
    if (m[2] !== expected) throw new SlsError(401, 'SignatureNotMatch', 'signature does not match');
  }

  function getLogs(url: URL, query: Record<string, string>): { call: GetLogsCall; logs: SlsLog[] } {
    const lm = /^\/logstores\/([^/]+)$/.exec(url.pathname);
    if (!lm || query.type !== 'log') throw new SlsError(404, 'NotFound', `no such API: GET ${url.pathname}`);
    const logstore = decodeURIComponent(lm[1]);
    const store = opts.logstores[logstore];
    if (!store) throw new SlsError(404, 'LogStoreNotExist', `logstore ${logstore} does not exist`);
    const from = Number(query.from);
    const to = Number(query.to);
    if (!Number.isInteger(from) || !Number.isInteger(to) || from >= to) throw new SlsError(400, 'InvalidTimeRange', 'request time range is invalid');
    const line = query.line === undefined ? 100 : Number(query.line);
    if (!Number.isInteger(line) || line < 0 || line > 100) throw new SlsError(400, 'InvalidLine', 'line is invalid');
    const offset = query.offset === undefined ? 0 : Number(query.offset);
    if (!Number.isInteger(offset) || offset < 0) throw new SlsError(400, 'InvalidOffset', 'offset is invalid');
    if (query.reverse !== undefined && query.reverse !== 'true' && query.reverse !== 'false') throw new SlsError(400, 'InvalidReverse', 'Reverse value is invalid');
    const q = query.query ?? '';
    const match = matcher(q);
    const key = [logstore, from, to, q, line, offset].join('|');
    const count = seen.get(key) ?? 0;
    seen.set(key, count + 1);
    const call: GetLogsCall = { logstore, from, to, query: q, line, offset, reverse: query.reverse === 'true', seen: count, n: n++ };
    let hits = store.filter((l) => Number(l.__time__) >= from && Number(l.__time__) < to && match(l));
    if (call.reverse) hits = hits.reverse();
    return { call, logs: hits.slice(offset, offset + line) };
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'x-log-requestid': randomUUID(), 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sls.invalid');
    const query = parseQuery(url.search.slice(1)) as Record<string, string>;
    try {
      if (req.method !== 'GET') throw new SlsError(405, 'MethodNotAllowed', `${req.method} is not supported here`);
      check(req, url, query);
      const { call, logs } = getLogs(url, query);
      calls.push(call);
      active++;
      maxActive = Math.max(maxActive, active);
      try {
        if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
        const fault = opts.fault?.(call);
        if (fault !== undefined) faults.push({ call, fault });
        switch (fault) {
          case undefined:
            return send(res, 200, logs, { 'x-log-progress': 'Complete', 'x-log-count': String(logs.length) });
          case 'incomplete': {
            const part = logs.slice(0, Math.floor(logs.length / 2));
            return send(res, 200, part, { 'x-log-progress': 'Incomplete', 'x-log-count': String(part.length) });
          }
          case '502-html':
            res.writeHead(502, { 'content-type': 'text/html' });
            res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
            return;
          case 'reset':
            req.socket.destroy();
            return;
          default:
            return send(res, fault, { errorCode: fault === 503 ? 'ServerBusy' : 'InternalServerError', errorMessage: `injected ${fault}` });
        }
      } finally {
        active--;
      }
    } catch (err) {
      if (!(err instanceof SlsError)) throw err;
      rejected.push({ code: err.code, status: err.status, message: err.message });
      send(res, err.status, { errorCode: err.code, errorMessage: err.message });
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, { errorCode: 'InternalServerError', errorMessage: err.message });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://localhost:${port}`,
    port,
    calls,
    rejected,
    faults,
    maxConcurrent: () => maxActive,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
