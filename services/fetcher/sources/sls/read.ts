/**
 * Aliyun SLS (Log Service) logstore as a source, the reading.
 *
 * The job's `[job] begin`–`end` is split into windows of `window_s` seconds. Windows are fetched
 * `concurrency` at a time, ahead of the replay, while the logs held stay under `pre-download`;
 * each window is paged with `offset`/`line` until a short page, each request retried with
 * exponential backoff. SLS orders results by time only to the minute, so each window is re-sorted
 * by the log's own time before its lines go out; windows go out in time order, each whole or not
 * at all. Each SLS log (a field map) becomes one analyzer line: the `line_field` value, or the map
 * as a JSON object for the `jsonl` analyzer.
 */
import { SourceError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/log.js';
import type { SourceCounts } from '../../../../shared/protocol.js';
import { retry, RetryError } from '../../../../shared/retry.js';
import type { Chain, ChainRecord } from '../../analyzers/chain.js';
import { countAnalyzed, emptyCounts, type AnalyzedLine } from '../lines.js';
import type { Source } from '../types.js';
import { sdkGetLogs, SlsRequestError, type GetPage, type SlsLog, type Window } from './getlogs.js';
import type { SlsSettings } from './settings.js';

/** Windows fetched ahead of the replay at most, per unit of `concurrency` (bounds sparse stores). */
const LOOKAHEAD_PER_FETCH = 8;

/** The logstore as one source, `project/logstore`. */
export async function openSlsSources(s: SlsSettings, chain: Chain, log: Logger): Promise<Source[]> {
  const name = `${s.project}/${s.logstore}`;
  const srcLog = log.child({ source: name });
  const counts = emptyCounts();
  // Loaded here, not at the top: only SLS jobs pay for the SDK (protobufjs schema load, ~12 MB).
  const { default: Client } = await import('@alicloud/log');
  return [{ name, counts, records: slsRecords(s, sdkGetLogs(s, srcLog, Client), chain, counts, srcLog) }];
}

/**
 * The logstore's records in replay order, each line counted. Ordering a window analyzes its
 * lines already; those results are what gets counted, so no line is parsed twice.
 */
export function slsRecords(s: SlsSettings, getPage: GetPage, chain: Chain, counts: SourceCounts, log: Logger): AsyncGenerator<ChainRecord> {
  return countAnalyzed(slsLines(s, getPage, (logs) => orderWindow(logs, s.lineField, chain), log), counts);
}

// ---------------------------------------------------------------------------------------------
// Pure parts: windows, lines, order.

/** Windows in `[fromS, toS)`: the i-th one, the last one shorter. */
export function windowAt(fromS: number, toS: number, windowS: number, i: number): Window {
  const from = fromS + i * windowS;
  return { from, to: Math.min(from + windowS, toS) };
}

export function windowCount(fromS: number, toS: number, windowS: number): number {
  return Math.max(0, Math.ceil((toS - fromS) / windowS));
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
 * One window's lines in replay order, each with the analyzer's result on it: by the time the
 * analyzer reads from the line (ms when the log has them), else SLS's `__time__`; ties keep SLS
 * time, then fetch order. Lines the analyzer rejects sort by SLS time; they only count as parse
 * errors or filtered.
 */
export function orderWindow(logs: readonly SlsLog[], lineField: string | undefined, chain: Chain): AnalyzedLine[] {
  const items = logs.map((log, i) => {
    const line = logToLine(log, lineField);
    const sls = slsTimeMs(log);
    const res = chain.analyze(line);
    const t = res.ok ? res.rec.ts : sls;
    return { line, res, t: Number.isFinite(t) ? t : 0, sls: Number.isFinite(sls) ? sls : 0, i };
  });
  items.sort((a, b) => a.t - b.t || a.sls - b.sls || a.i - b.i);
  return items.map(({ line, res }) => ({ line, res }));
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
    let page: SlsLog[];
    try {
      page = await retry(() => getPage(w, offset, signal), {
        signal,
        backoff: { initialMs: s.backoffMs, maxMs: s.backoffMaxMs },
        // Between half the doubled wait and all of it: concurrent windows do not retry in lockstep.
        jitter: 0.5,
        retries: s.retries,
        isRetryable: (err) => (err instanceof SlsRequestError ? err.retryable : true),
        onRetry: ({ err, attempt, delayMs }) =>
          log.warn({ window: iso(w.from), offset, attempt, of: s.retries, delay_ms: delayMs, err: (err as Error).message }, 'SLS GetLogs failed; retrying'),
      });
    } catch (err) {
      if (signal.aborted) throw err;
      flow.afterPage(0);
      const e = (err instanceof RetryError ? err.lastError : err) as Error;
      const retryable = e instanceof SlsRequestError ? e.retryable : true;
      const tries = err instanceof RetryError ? ` after ${err.attempts} attempts` : ' (not retried)';
      throw new SourceError(
        `SLS ${s.project}/${s.logstore} at ${s.url}: GetLogs ${iso(w.from)}–${iso(w.to)} offset ${offset} failed${tries}: ${e.message}`,
        retryable,
        { cause: e },
      );
    }
    for (const l of page) logs.push(l);
    flow.afterPage(page.length);
    // A short page is the last one; an incomplete one was asked again above.
    if (page.length < s.pageSize) return logs;
    offset += page.length;
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
export async function* slsLines<T>(s: SlsSettings, getPage: GetPage, order: (logs: SlsLog[]) => T[], log: Logger): AsyncGenerator<T> {
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
      for (const item of order(logs)) yield item;
      held -= heldBy.get(current) ?? 0;
      heldBy.delete(current);
    }
  } finally {
    ac.abort();
  }
}

