/**
 * One record's responses from the targets, lifted, compared and counted: primary against
 * candidate is `raw`, primary against secondary is `noise`. A record whose primary or candidate
 * (or configured secondary) failed is not compared: it is counted as skipped with the reason
 * `<target>_error`. Pure apart from the counters it feeds.
 */
import type { DiffExample, DiffExampleResponse, LogRecord } from '../../shared/protocol.js';
import type { BodyKind } from './body.js';
import { diffTrees, type CompareOptions, type Difference } from './compare.js';
import type { DiffCounters } from './counters.js';
import { liftResponse, type Lifted, type LiftOptions, type RawResponse } from './lift.js';
import { TARGETS, type DiffSettings, type TargetName, DEFAULT_IGNORED_HEADERS } from './settings.js';
import { valueAt, type Json } from './tree.js';

/** What one target gave: a response, or the error kind of a failed request. */
export type TargetOutcome = { response: RawResponse } | { error: string };

/** Body text kept per response in an example (characters). */
const EXAMPLE_BODY_CHARS = 4096;

/** Headers of the request that carry its trace id, most specific first. */
const TRACE_HEADERS = ['traceparent', 'x-b3-traceid', 'x-trace-id', 'x-amzn-trace-id'];

export interface ComparerOptions {
  lift: LiftOptions;
  compare: CompareOptions;
  /** Whether a secondary is configured (without one, nothing is noise). */
  secondary: boolean;
}

export function comparerOptions(s: DiffSettings): ComparerOptions {
  return {
    lift: { ignoreHeaders: new Set([...DEFAULT_IGNORED_HEADERS, ...s.ignore_headers.map((h) => h.toLowerCase())]), maxBodyBytes: s.max_body_bytes },
    compare: { arrayOrder: s.array_order, numberTolerance: s.number_tolerance },
    secondary: s.secondary !== undefined,
  };
}

export function compareRecord(rec: Pick<LogRecord, 'method' | 'url' | 'headers' | 'api' | 'src' | 'seq'>, outcomes: Partial<Record<TargetName, TargetOutcome>>, opts: ComparerOptions, counters: DiffCounters): void {
  const endpoint = counters.endpoint(rec.url, rec.api);
  const lifted: Partial<Record<TargetName, Lifted>> = {};
  let failed: TargetName | undefined;
  for (const t of TARGETS) {
    if (t === 'secondary' && !opts.secondary) continue;
    const o = outcomes[t];
    if (o === undefined || 'error' in o) {
      failed ??= t;
      continue;
    }
    const l = liftResponse(o.response, opts.lift);
    counters.bodyFlags(t, l.flags);
    lifted[t] = l;
  }
  if (failed) {
    counters.skipped(endpoint, `${failed}_error`);
    return;
  }
  const primary = lifted.primary!.tree;
  const raw = diffTrees(primary, lifted.candidate!.tree, opts.compare);
  const noise = lifted.secondary ? diffTrees(primary, lifted.secondary.tree, opts.compare) : [];
  counters.compared(endpoint, raw, noise, (d) => example(rec, d, outcomes, lifted));
}

function example(rec: Pick<LogRecord, 'method' | 'url' | 'headers' | 'src' | 'seq'>, d: Difference, outcomes: Partial<Record<TargetName, TargetOutcome>>, lifted: Partial<Record<TargetName, Lifted>>): DiffExample {
  const responses: Record<string, DiffExampleResponse> = {};
  const values: Record<string, string> = {};
  for (const t of TARGETS) {
    const l = lifted[t];
    const o = outcomes[t];
    if (l) {
      responses[t] = { status: l.tree.status, headers: l.tree.headers, body: bodyText(l.tree.body, l.bodyKind) };
      const v = valueAt(l.tree, d.at);
      if (v !== undefined) values[t] = JSON.stringify(v);
    } else if (o && 'error' in o) responses[t] = { status: 0, headers: {}, body: '', error: o.error };
  }
  const trace = traceId(rec.headers);
  return { endpoint: '', path: d.path, kind: d.kind, at: d.at, src: rec.src, seq: rec.seq, ...(trace ? { trace_id: trace } : {}), request: { method: rec.method, url: rec.url, ...(rec.headers ? { headers: rec.headers } : {}) }, responses, values };
}

/** A lifted body as readable text: JSON indented, lines joined, cut at EXAMPLE_BODY_CHARS. */
export function bodyText(body: Json, kind: BodyKind): string {
  const text = kind === 'empty' ? '' : kind === 'text' ? (body as string[]).join('\n') : kind === 'bytes' ? String(body) : JSON.stringify(body, null, 2);
  return text.length > EXAMPLE_BODY_CHARS ? text.slice(0, EXAMPLE_BODY_CHARS) + '…' : text;
}

function traceId(headers: Record<string, string> | undefined): string | undefined {
  if (!headers) return undefined;
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  for (const h of TRACE_HEADERS) {
    const v = lower.get(h);
    // traceparent: version-traceid-parentid-flags; the trace id is its second part.
    if (v) return h === 'traceparent' ? (v.split('-')[1] ?? v) : v;
  }
  return undefined;
}
