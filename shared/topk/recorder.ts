/**
 * A replayer's heavy hitters: one Space-Saving summary per dimension (route template, URL path,
 * host, status or error kind, hash_field key), each counter with its failures, bytes and — for
 * the `histograms` largest — a latency histogram. Sent whole (cumulative) with every stats
 * message; the reporter merges the latest of every replayer life (merge.ts).
 *
 * Memory: k counters per dimension, keys cut at MAX_KEY chars, `histograms` histograms per
 * dimension of HISTOGRAM_DIMS (2 significant digits, ~15 KB each), the route learner's trie (bounded): never the
 * number of distinct keys.
 */
import { newHistogram, recordMs, toWire, type Histogram } from '../histogram.js';
import type { LogRecord, TopWire } from '../protocol.js';
import { RouteLearner } from './route-learner.js';
import type { Dimension, TopSettings } from './settings.js';
import { SpaceSaving } from './space-saving.js';

/**
 * Dimensions whose largest entries keep a latency histogram: where a latency per key is read.
 * (One histogram record per request and dimension was a fifth of the summaries' cost.)
 */
const HISTOGRAM_DIMS: ReadonlySet<Dimension> = new Set(['route', 'url', 'host']);

/** Longest key kept, in chars (a longer URL is cut and ends with `…`). */
const MAX_KEY = 256;

interface Figures {
  failed: number;
  bytesSent: number;
  bytesReceived: number;
  bytesFailed: number;
  latency?: Histogram;
}

const newFigures = (): Figures => ({ failed: 0, bytesSent: 0, bytesReceived: 0, bytesFailed: 0 });
function resetFigures(f: Figures): void {
  f.failed = f.bytesSent = f.bytesReceived = f.bytesFailed = 0;
  f.latency?.reset();
}

/** Path of a URL without origin and query: `http://h/a/b?x=1` → `/a/b`. */
export function urlPath(url: string): string {
  let from = 0;
  if (url.charCodeAt(0) !== 0x2f) {
    const scheme = url.indexOf('://');
    if (scheme >= 0) {
      from = url.indexOf('/', scheme + 3);
      if (from < 0) return '/';
    }
  }
  let to = url.indexOf('?', from);
  if (to < 0) to = url.length;
  const hash = url.indexOf('#', from);
  if (hash >= 0 && hash < to) to = hash;
  return to - from > 0 ? url.slice(from, to) : '/';
}

/** Host of an absolute URL, else the record's Host header; `-` when neither. */
export function hostOf(rec: LogRecord): string {
  const u = rec.url;
  const scheme = u.charCodeAt(0) === 0x2f ? -1 : u.indexOf('://');
  if (scheme >= 0) {
    const rest = u.slice(scheme + 3);
    const end = rest.search(/[/?#]/);
    const host = end < 0 ? rest : rest.slice(0, end);
    return host.slice(host.lastIndexOf('@') + 1).toLowerCase();
  }
  return rec.headers?.host ?? rec.headers?.Host ?? '-';
}

const cut = (k: string): string => (k.length > MAX_KEY ? k.slice(0, MAX_KEY - 1) + '…' : k);

export class TopRecorder {
  private readonly dims: Array<[Dimension, SpaceSaving<Figures>]>;
  private readonly learner: RouteLearner;
  /** Histograms no counter holds, reused (no allocation once warm). */
  private readonly spare: Histogram[] = [];

  constructor(private readonly s: TopSettings) {
    this.learner = new RouteLearner(s.fold_after);
    this.dims = s.dimensions.map((d) => [d, new SpaceSaving<Figures>(s.k, newFigures, resetFigures)]);
  }

  /** The route template a record counts under (the analyzer's `api`, else the learned one). */
  route(rec: LogRecord): string {
    return rec.api ?? this.learner.template(rec.url);
  }

  /**
   * One settled request, counted under `route` (from `route(rec)`, asked once per request since
   * it learns). `status` 0 with `error` = no response; bytes are bodies only.
   */
  observe(rec: LogRecord, route: string, status: number, error: string | undefined, latencyMs: number, bytesSent: number, bytesReceived: number): void {
    const failed = error !== undefined || status >= 400;
    for (const [dim, summary] of this.dims) {
      const key = this.keyOf(dim, rec, route, status, error);
      if (key === undefined) continue;
      const f = summary.add(cut(key)).aux;
      f.bytesSent += bytesSent;
      f.bytesReceived += bytesReceived;
      if (failed) {
        f.failed++;
        f.bytesFailed += bytesSent + bytesReceived;
      }
      if (f.latency) recordMs(f.latency, latencyMs);
    }
  }

  /**
   * Every dimension's summary, cumulative. Route keys are brought up to the templates learned so
   * far (a path counted before its segment folded joins its template); the largest `histograms`
   * counters get (or keep) a latency histogram.
   */
  snapshot(): Record<string, TopWire> {
    const out: Record<string, TopWire> = {};
    for (const [dim, summary] of this.dims) {
      if (dim === 'route') summary.rekey((k) => this.learner.peek(k), (into, from) => this.mergeFigures(into, from));
      const counters = summary.top();
      counters.forEach((c, i) => {
        if (i < this.s.histograms && HISTOGRAM_DIMS.has(dim)) c.aux.latency ??= this.spare.pop() ?? newHistogram(2);
        else if (c.aux.latency) this.release(c.aux);
      });
      out[dim] = {
        n: summary.n,
        min: summary.min(),
        e: counters.map((c) => {
          const f = c.aux;
          return { k: c.key, c: c.count, e: c.err, f: f.failed, bs: f.bytesSent, br: f.bytesReceived, bf: f.bytesFailed, ...(f.latency ? { h: toWire(f.latency) } : {}) };
        }),
      };
    }
    return out;
  }

  private mergeFigures(into: Figures, from: Figures): void {
    into.failed += from.failed;
    into.bytesSent += from.bytesSent;
    into.bytesReceived += from.bytesReceived;
    into.bytesFailed += from.bytesFailed;
    if (!from.latency) return;
    if (into.latency) {
      into.latency.add(from.latency);
      this.release(from);
    } else {
      into.latency = from.latency;
      from.latency = undefined;
    }
  }

  private release(f: Figures): void {
    f.latency!.reset();
    this.spare.push(f.latency!);
    f.latency = undefined;
  }

  private keyOf(dim: Dimension, rec: LogRecord, route: string, status: number, error: string | undefined): string | undefined {
    switch (dim) {
      case 'route':
        return route;
      case 'url':
        return urlPath(rec.url);
      case 'host':
        return hostOf(rec);
      case 'status':
        return error ?? String(status);
      case 'key':
        return rec.key;
    }
  }
}
