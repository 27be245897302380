/**
 * Aliyun SLS (Log Service) logstore as a source, read with GetLogs through the official SDK
 * (`@alicloud/log`), which signs every request.
 *
 * The job's `[job] begin`–`end` is split into windows of `window_s` seconds. Windows are fetched
 * `concurrency` at a time, ahead of the replay, while the logs held stay under `pre-download`;
 * each window is paged with `offset`/`line` until a short page, each request retried with
 * exponential backoff. SLS orders results by time only to the minute, so each window is re-sorted
 * by the log's own time before its lines go out; windows go out in time order, each whole or not
 * at all. Each SLS log (a field map) becomes one analyzer line: the `line_field` value, or the map
 * as a JSON object for the `jsonl` analyzer.
 *
 * The SDK returns the response body only. Its status and the `x-log-progress` header (SLS's
 * "these results are incomplete, ask again") are read from the node:http response through the
 * agent the SDK is handed (see `observe`), so an incomplete page is asked for again instead of
 * being taken for the end of a window.
 */
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type SlsClient from '@alicloud/log';
import { toEpochMs, type HavokConfig } from '../../shared/config.js';
import { ConfigError, SourceError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { Chain } from './analyzers/chain.js';
import { analyzeLines, emptyCounts, type Source } from './source.js';

/** One SLS log as GetLogs returns it: `__time__` (epoch s), `__source__`, `__topic__`, contents. */
export type SlsLog = Record<string, unknown>;

/** `[from, to)` in epoch seconds, as GetLogs takes it (left-closed, right-open). */
export interface Window {
  from: number;
  to: number;
}

/** Everything the source needs, checked and resolved from `[fetcher.sls]` and `[job]`. */
export interface SlsSettings {
  project: string;
  logstore: string;
  /** For messages: `https://<project>.<host>`. */
  url: string;
  client: { accessKeyId: string; accessKeySecret: string; securityToken?: string; region?: string; endpoint?: string; use_https: boolean };
  /** Epoch seconds, `[fromS, toS)`. */
  fromS: number;
  toS: number;
  query: string;
  topic?: string;
  windowS: number;
  pageSize: number;
  concurrency: number;
  preDownload: number;
  retries: number;
  backoffMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  lineField?: string;
}

const DEFAULT_DOMAIN = 'log.aliyuncs.com';
/** Windows fetched ahead of the replay at most, per unit of `concurrency` (bounds sparse stores). */
const LOOKAHEAD_PER_FETCH = 8;

/**
 * `[fetcher.sls]` and `[job]` resolved, with the env fallback for the access keys; every problem
 * at once, each naming its key.
 */
export function slsSettings(cfg: HavokConfig, env: NodeJS.ProcessEnv = process.env): SlsSettings {
  const s = cfg.fetcher.sls;
  const issues: Array<{ key: string; message: string }> = [];
  const need = (key: string, v: string | undefined, hint = ''): string => {
    if (v === undefined || v === '') issues.push({ key, message: `required${hint}` });
    return v ?? '';
  };
  const project = need('fetcher.sls.project', s.project);
  const logstore = need('fetcher.sls.logstore', s.logstore);
  const accessKeyId = need('fetcher.sls.access_key_id', s.access_key_id || env.ALIYUN_ACCESS_KEY_ID || env.ALIBABA_CLOUD_ACCESS_KEY_ID, ' (or env ALIYUN_ACCESS_KEY_ID)');
  const accessKeySecret = need(
    'fetcher.sls.access_key_secret',
    s.access_key_secret || env.ALIYUN_ACCESS_KEY_SECRET || env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    ' (or env ALIYUN_ACCESS_KEY_SECRET)',
  );
  const securityToken = s.security_token || env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined;

  // The SDK takes a bare host as plain http; a bare host here means https (keys and logs on the
  // wire), and only an explicit http:// URL (a local gateway, the tests) goes unencrypted.
  let host = '';
  let useHttps = true;
  if (s.endpoint !== undefined) {
    const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s.endpoint);
    let u: URL | undefined;
    try {
      u = new URL(hasScheme ? s.endpoint : `https://${s.endpoint}`);
    } catch {
      /* reported below */
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || (u.pathname !== '/' && u.pathname !== '') || u.search || u.username) {
      issues.push({ key: 'fetcher.sls.endpoint', message: `expected a host[:port] or an http(s)://host[:port] URL, got ${JSON.stringify(s.endpoint)}` });
    } else {
      host = u.host;
      useHttps = u.protocol === 'https:';
    }
  } else if (s.region) {
    host = `${s.region}.${DEFAULT_DOMAIN}`;
  } else {
    issues.push({ key: 'fetcher.sls.region', message: 'required (or fetcher.sls.endpoint)' });
  }

  const begin = toEpochMs(cfg.job.begin);
  const end = toEpochMs(cfg.job.end);
  const range = ' for an SLS source: the log-time range to read (epoch ms or ISO 8601)';
  if (begin === undefined) issues.push({ key: 'job.begin', message: `required${range}` });
  if (end === undefined) issues.push({ key: 'job.end', message: `required${range}` });
  if (begin !== undefined && end !== undefined && end <= begin) issues.push({ key: 'job.end', message: `must be after job.begin (${new Date(begin).toISOString()})` });
  if (issues.length) throw new ConfigError(issues);

  return {
    project,
    logstore,
    url: `${useHttps ? 'https' : 'http'}://${project}.${host}`,
    client: { accessKeyId, accessKeySecret, securityToken, endpoint: `${useHttps ? 'https' : 'http'}://${host}`, use_https: useHttps },
    // GetLogs takes whole seconds: cover [begin, end) and let the time wheel trim the edges.
    fromS: Math.floor(begin! / 1000),
    toS: Math.ceil(end! / 1000),
    query: s.expression?.trim() || '*',
    topic: s.topic,
    windowS: s.window_s,
    pageSize: s.page_size,
    concurrency: s.concurrency,
    preDownload: s['pre-download'],
    retries: s.retries,
    backoffMs: s.backoff_ms,
    backoffMaxMs: s.backoff_max_ms,
    timeoutMs: s.timeout_ms,
    lineField: s.line_field,
  };
}

/**
 * The config the analyzer chain is built from for SLS: `[fetcher.sls] format` and `fields` in
 * place of the file ones. Without `line_field` the lines are JSON objects, so the default format
 * is `jsonl`.
 */
export function slsChainConfig(cfg: HavokConfig): HavokConfig {
  const s = cfg.fetcher.sls;
  const format = s.format ?? (s.line_field ? cfg.fetcher.file.format : 'jsonl');
  return { ...cfg, fetcher: { ...cfg.fetcher, file: { ...cfg.fetcher.file, format, fields: s.fields } } };
}

export interface SlsOptions {
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

/** The logstore as one source, `project/logstore`. */
export async function openSlsSources(cfg: HavokConfig, chain: Chain, opts: SlsOptions = {}): Promise<Source[]> {
  const s = slsSettings(cfg, opts.env);
  const name = `${s.project}/${s.logstore}`;
  const log = (opts.log ?? createLogger('fetcher', { job: cfg.job.id })).child({ source: name });
  const counts = emptyCounts();
  // Loaded here, not at the top: only SLS jobs pay for the SDK (protobufjs schema load, ~12 MB).
  const { default: Client } = await import('@alicloud/log');
  const getPage = sdkGetLogs(s, log, Client);
  const lines = slsLines(s, getPage, (logs) => orderWindow(logs, s.lineField, chain), log);
  return [{ name, counts, records: analyzeLines(lines, chain, counts) }];
}

// ---------------------------------------------------------------------------------------------
// Pure parts: windows, backoff, lines, order.

/** Windows in `[fromS, toS)`: the i-th one, the last one shorter. */
export function windowAt(fromS: number, toS: number, windowS: number, i: number): Window {
  const from = fromS + i * windowS;
  return { from, to: Math.min(from + windowS, toS) };
}

export function windowCount(fromS: number, toS: number, windowS: number): number {
  return Math.max(0, Math.ceil((toS - fromS) / windowS));
}

/**
 * Delay before retry number `attempt` (1-based): base·2^(attempt−1), capped at `maxMs`, times a
 * random factor in [0.5, 1] so concurrent windows do not retry in lockstep.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, rand: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(exp * (0.5 + 0.5 * rand()));
}

/**
 * The analyzer's input for one SLS log: the `lineField` value when it is a string, otherwise the
 * whole map as JSON (then a parse-error sample shows what the log held).
 */
export function logToLine(log: SlsLog, lineField?: string): string {
  if (lineField !== undefined) {
    const v = log[lineField];
    if (typeof v === 'string') return v;
  }
  return JSON.stringify(log);
}

/** SLS's own time of a log, epoch ms: `__time__` (s) plus `__time_ns_part__` when present. */
export function slsTimeMs(log: SlsLog): number {
  const s = Number(log.__time__);
  const ns = Number(log.__time_ns_part__ ?? 0);
  if (!Number.isFinite(s)) return NaN;
  return s * 1000 + (Number.isFinite(ns) ? Math.floor(ns / 1e6) : 0);
}

/**
 * One window's lines in replay order: by the time the analyzer reads from the line (ms when the
 * log has them), else SLS's `__time__`; ties keep SLS time, then fetch order. Lines the analyzer
 * rejects sort by SLS time; they only count as parse errors or filtered.
 */
export function orderWindow(logs: readonly SlsLog[], lineField: string | undefined, chain: Chain): string[] {
  const items = logs.map((log, i) => {
    const line = logToLine(log, lineField);
    const sls = slsTimeMs(log);
    const res = chain.analyze(line);
    const t = res.ok ? res.rec.ts : sls;
    return { line, t: Number.isFinite(t) ? t : 0, sls: Number.isFinite(sls) ? sls : 0, i };
  });
  items.sort((a, b) => a.t - b.t || a.sls - b.sls || a.i - b.i);
  return items.map((x) => x.line);
}

// ---------------------------------------------------------------------------------------------
// Fetching: one request, retries, a window, the windows in order.

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

export interface RetryHooks {
  onRetry?: (err: Error, attempt: number, delayMs: number) => void;
  rand?: () => number;
}

/**
 * `fn` with up to `retries` retries on retryable SlsRequestErrors (and any non-SlsRequestError
 * but an abort), waiting backoffDelay between tries. Rethrows the last error, with `attempts`.
 */
export async function withRetries<T>(
  fn: () => Promise<T>,
  s: Pick<SlsSettings, 'retries' | 'backoffMs' | 'backoffMaxMs'>,
  signal: AbortSignal,
  hooks: RetryHooks = {},
): Promise<{ value: T } | { error: Error; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn() };
    } catch (err) {
      if (signal.aborted) throw err;
      const e = err as Error;
      const retryable = e instanceof SlsRequestError ? e.retryable : true;
      if (!retryable || attempt > s.retries) return { error: e, attempts: attempt };
      const delay = backoffDelay(attempt, s.backoffMs, s.backoffMaxMs, hooks.rand);
      hooks.onRetry?.(e, attempt, delay);
      await sleep(delay, undefined, { signal });
    }
  }
}

const iso = (sec: number): string => new Date(sec * 1000).toISOString();

/** Hooks of one window's fetch: a gate before each page, and the size of each page fetched. */
export interface PageFlow {
  /** Resolves when this window may fetch its next page (the pre-download bound). */
  beforePage: () => Promise<void>;
  afterPage: (n: number) => void;
}

/** All pages of one window, each request retried; an error names the store, endpoint and page. */
export async function fetchWindow(w: Window, getPage: GetPage, s: SlsSettings, signal: AbortSignal, log: Logger, flow: PageFlow): Promise<SlsLog[]> {
  const logs: SlsLog[] = [];
  for (let offset = 0; ; ) {
    await flow.beforePage();
    const res = await withRetries(() => getPage(w, offset, signal), s, signal, {
      onRetry: (err, attempt, delayMs) =>
        log.warn({ window: iso(w.from), offset, attempt, of: s.retries, delay_ms: delayMs, err: err.message }, 'SLS GetLogs failed; retrying'),
    });
    if ('error' in res) {
      flow.afterPage(0);
      const e = res.error;
      const retryable = e instanceof SlsRequestError ? e.retryable : true;
      const tries = retryable ? ` after ${res.attempts} attempts` : ' (not retried)';
      throw new SourceError(
        `SLS ${s.project}/${s.logstore} at ${s.url}: GetLogs ${iso(w.from)}–${iso(w.to)} offset ${offset} failed${tries}: ${e.message}`,
        retryable,
        { cause: e },
      );
    }
    for (const l of res.value) logs.push(l);
    flow.afterPage(res.value.length);
    // A short page is the last one; an incomplete one was asked again above.
    if (res.value.length < s.pageSize) return logs;
    offset += res.value.length;
  }
}

/**
 * The logstore's lines in replay order: windows fetched ahead, each ordered by `order` and
 * emitted whole, in window order. At most `concurrency` windows are fetched at once. Memory: a
 * window ahead of the replay fetches its next page only while the logs held ahead plus a full
 * page for every page in flight stay within `pre-download`; the window being replayed always
 * may (so the replay never waits on the bound), and is held whole on top of it. A window that
 * cannot be fetched ends the stream with its error at the next window boundary; stopping early
 * (return) cancels the fetches in flight.
 */
export async function* slsLines(s: SlsSettings, getPage: GetPage, order: (logs: SlsLog[]) => string[], log: Logger): AsyncGenerator<string> {
  const n = windowCount(s.fromS, s.toS, s.windowS);
  const ac = new AbortController();
  const pending = new Map<number, Promise<SlsLog[]>>();
  let started = 0;
  /** The window being replayed (or awaited). */
  let current = 0;
  let inFlight = 0;
  /** Logs fetched and not yet emitted, per window, and their sum. */
  const heldBy = new Map<number, number>();
  let held = 0;
  /** A full page for every page request in flight of windows ahead. */
  let reserved = 0;
  const waiters: Array<() => void> = [];
  const wake = (): void => waiters.splice(0).forEach((w) => w());
  ac.signal.addEventListener('abort', wake, { once: true });
  let failure: Error | undefined;
  let warnedBig = false;
  const lookahead = s.concurrency * LOOKAHEAD_PER_FETCH;

  const flowFor = (i: number): PageFlow => {
    let reservedHere = 0;
    return {
      beforePage: async () => {
        for (;;) {
          if (ac.signal.aborted) throw ac.signal.reason;
          if (i === current) return;
          const ahead = held - (heldBy.get(current) ?? 0);
          if (ahead + reserved + s.pageSize <= s.preDownload) break;
          await new Promise<void>((r) => waiters.push(r));
        }
        reserved += s.pageSize;
        reservedHere = s.pageSize;
      },
      afterPage: (k) => {
        reserved -= reservedHere;
        reservedHere = 0;
        heldBy.set(i, (heldBy.get(i) ?? 0) + k);
        held += k;
        wake();
      },
    };
  };

  const launch = (): void => {
    while (!failure && started < n && inFlight < s.concurrency && started - current < lookahead) {
      const i = started++;
      inFlight++;
      const p = fetchWindow(windowAt(s.fromS, s.toS, s.windowS, i), getPage, s, ac.signal, log, flowFor(i)).then(
        (logs) => {
          inFlight--;
          launch();
          return logs;
        },
        (err: Error) => {
          inFlight--;
          failure ??= err; // the first error; the aborts it causes in other windows are not news
          ac.abort();
          throw err;
        },
      );
      p.catch(() => undefined); // awaited in order below; a later window's failure must not go unhandled
      pending.set(i, p);
    }
  };

  try {
    for (; current < n; current++) {
      if (failure) throw failure;
      wake(); // a window ahead may have become the current one
      launch();
      let logs: SlsLog[];
      try {
        logs = await pending.get(current)!;
      } catch (err) {
        throw failure ?? err;
      }
      pending.delete(current);
      if (failure) throw failure;
      if (logs.length > s.preDownload && !warnedBig) {
        warnedBig = true;
        log.warn(
          { window: iso(windowAt(s.fromS, s.toS, s.windowS, current).from), logs: logs.length, 'pre-download': s.preDownload },
          'an SLS window holds more logs than pre-download; lower fetcher.sls.window_s to bound memory',
        );
      }
      for (const line of order(logs)) yield line;
      held -= heldBy.get(current) ?? 0;
      heldBy.delete(current);
    }
  } finally {
    ac.abort();
  }
}
