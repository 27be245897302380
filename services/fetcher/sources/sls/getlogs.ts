/**
 * One GetLogs page of an SLS logstore through the official SDK (`@alicloud/log`), which signs
 * every request, and what a failed one means (`SlsRequestError.retryable`).
 *
 * The SDK returns the response body only. Its status and the `x-log-progress` header (SLS's
 * "these results are incomplete, ask again") are read from the node:http response through the
 * agent the SDK is handed (see `observe`), so an incomplete page is asked for again instead of
 * being taken for the end of a window.
 */
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type SlsClient from '@alicloud/log';
import type { Logger } from '../../../../shared/log.js';
import type { SlsSettings } from './settings.js';

/** One SLS log as GetLogs returns it: `__time__` (epoch s), `__source__`, `__topic__`, contents. */
export type SlsLog = Record<string, unknown>;

/** `[from, to)` in epoch seconds, as GetLogs takes it (left-closed, right-open). */
export interface Window {
  from: number;
  to: number;
}

/** A failed GetLogs request; `retryable` = asking again may help. */
export class SlsRequestError extends Error {
  override readonly name = 'SlsRequestError' as const;
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly code?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One GetLogs page: logs `[offset, offset + pageSize)` of the window's results. No retries. */
export type GetPage = (w: Window, offset: number, signal: AbortSignal) => Promise<SlsLog[]>;

/** SLS error codes that describe a passing condition, whatever their HTTP status. */
const RETRYABLE_CODES = new Set(['InternalServerError', 'ServerBusy', 'RequestTimeout', 'ReadQuotaExceed', 'QuotaExceed', 'ShardReadQuotaExceed', 'ExceedQuota']);
/** SLS error codes meaning the keys are wrong or not allowed. */
const AUTH_CODES = new Set(['Unauthorized', 'SignatureNotMatch', 'InvalidAccessKeyId', 'AccessKeyIdNotFound', 'SecurityTokenExpired', 'InvalidSecurityToken']);

/** Whether a response with this status (and SLS error code) is worth asking again. */
export function retryableStatus(status: number, code?: string): boolean {
  if (code !== undefined && RETRYABLE_CODES.has(code)) return true;
  return status >= 500 || status === 429 || status === 408 || status < 300;
}

const ON_RESPONSE = Symbol('havok.sls.onResponse');
type AddRequest = (req: ClientRequest, options: Record<PropertyKey, unknown>) => void;

/**
 * Lets the caller of one SDK request see the node:http response (status, headers), which the SDK
 * does not return: the callback rides in the request options (`beforeRequest`) and is attached
 * when the agent takes the request. The SDK still builds, signs and sends the request itself.
 */
function observe<A extends http.Agent>(agent: A): A {
  const target = agent as unknown as { addRequest: AddRequest };
  const addRequest = target.addRequest.bind(agent);
  target.addRequest = (req, options) => {
    const cb = options[ON_RESPONSE];
    if (typeof cb === 'function') req.once('response', cb as (res: IncomingMessage) => void);
    addRequest(req, options);
  };
  return agent;
}

/**
 * `*.localhost` names are loopback (RFC 6761), but the system resolver often does not know
 * `<project>.localhost`, the host the SDK builds for an endpoint of `http://localhost:port`.
 */
function loopbackLookup(_hostname: string, options: LookupOneOptions | LookupAllOptions, cb: (...args: unknown[]) => void): void {
  if ((options as LookupAllOptions).all) cb(null, [{ address: '127.0.0.1', family: 4 } satisfies LookupAddress]);
  else cb(null, '127.0.0.1', 4);
}
const isLocalhost = (host: unknown): boolean => typeof host === 'string' && (host === 'localhost' || host.endsWith('.localhost'));

function snippet(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body) ?? String(body);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** GetLogs through the SDK, with the response's status and `x-log-progress` checked. */
export function sdkGetLogs(s: SlsSettings, log: Logger, Client: typeof SlsClient): GetPage {
  const client = new Client(s.client);
  const agent = observe(s.client.use_https ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true }));
  let warnedBlind = false;
  return async (w, offset, signal) => {
    // Set by the response listener (the SDK gives the body only).
    const seen: { res?: IncomingMessage } = {};
    const data: Record<string, string | number> = { query: s.query, line: s.pageSize, offset, reverse: 'false' };
    if (s.topic !== undefined) data.topic = s.topic;
    let body: unknown;
    try {
      body = await client.getLogs(s.project, s.logstore, new Date(w.from * 1000), new Date(w.to * 1000), data, {
        agent,
        timeout: s.timeoutMs,
        beforeRequest: (o) => {
          o.signal = signal;
          o[ON_RESPONSE] = (r: IncomingMessage) => (seen.res = r);
          if (isLocalhost(o.host)) o.lookup = loopbackLookup;
          return o;
        },
      });
    } catch (err) {
      if (signal.aborted) throw err;
      const e = err as Error & { code?: string; requestid?: string };
      const code = typeof e.code === 'string' ? e.code : undefined;
      const res = seen.res;
      if (!res) {
        // No response: the network, DNS or a timeout. Worth another try.
        throw new SlsRequestError(`${e.message}${code && !e.message.includes(code) ? ` (${code})` : ''}`, true, undefined, code, { cause: err });
      }
      const status = res.statusCode ?? 0;
      const rid = e.requestid ? `, request id ${e.requestid}` : '';
      const hint = status === 401 || status === 403 || (code !== undefined && AUTH_CODES.has(code)) ? '; check fetcher.sls.access_key_id / access_key_secret (or env ALIYUN_ACCESS_KEY_ID / ALIYUN_ACCESS_KEY_SECRET)' : '';
      throw new SlsRequestError(`HTTP ${status}${code ? ` ${code}` : ''}: ${e.message}${rid}${hint}`, retryableStatus(status, code), status, code, { cause: err });
    }
    const res = seen.res;
    if (!res && !warnedBlind) {
      // Only if a later SDK stops handing our agent the request: say what is no longer checked.
      warnedBlind = true;
      log.warn('cannot see GetLogs response headers through this @alicloud/log version: HTTP errors without an SLS error body and incomplete results (x-log-progress) go undetected');
    }
    const status = res?.statusCode;
    if (status !== undefined && (status < 200 || status >= 300)) {
      // An error page without an SLS JSON body (a proxy, a load balancer): the SDK returned it.
      throw new SlsRequestError(`HTTP ${status}: ${snippet(body)}`, retryableStatus(status), status);
    }
    const obj = body as { logs?: unknown; progress?: unknown } | null;
    const logs = Array.isArray(body) ? body : obj && typeof obj === 'object' && Array.isArray(obj.logs) ? obj.logs : undefined;
    if (!logs || !logs.every((l) => typeof l === 'object' && l !== null && !Array.isArray(l))) {
      throw new SlsRequestError(`unexpected GetLogs response (not a list of logs): ${snippet(body)}`, true, status);
    }
    const progress = res?.headers['x-log-progress'] ?? (obj && !Array.isArray(obj) ? obj.progress : undefined);
    if (progress === 'Incomplete') throw new SlsRequestError('incomplete result (x-log-progress: Incomplete)', true, status);
    return logs as SlsLog[];
  };
}
