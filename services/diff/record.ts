/**
 * One record's responses from the targets, lifted, compared and counted: primary against
 * candidate is `raw`, primary against secondary is `noise`. A record whose primary or candidate
 * (or configured secondary) failed is not compared: it is counted as skipped with the reason
 * `<target>_error`. Pure apart from the counters it feeds.
 */
import type { DiffExample, DiffExampleResponse, LogRecord } from '../../shared/protocol.js';
import { alignedDiff } from './aligned.js';
import { decodeBytes, parseJson, type BodyFlag, type BodyKind, type DecodedBody, type JsonBytes } from './body.js';
import { diffTrees, type CompareOptions, type Difference } from './compare.js';
import type { DiffCounters } from './counters.js';
import { liftHead, type Lifted, type LiftedHead, type LiftOptions, type RawResponse } from './lift.js';
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
  const sides: Partial<Record<TargetName, Side>> = {};
  let failed: TargetName | undefined;
  for (const t of TARGETS) {
    if (t === 'secondary' && !opts.secondary) continue;
    const o = outcomes[t];
    if (o === undefined || 'error' in o) failed ??= t;
    else sides[t] = new Side(o.response, opts.lift);
  }
  if (failed) {
    for (const t of TARGETS) if (sides[t]) counters.bodyFlags(t, sides[t].lifted().flags);
    counters.skipped(endpoint, `${failed}_error`);
    return;
  }
  const primary = sides.primary!;
  const raw = differences(primary, sides.candidate!, opts.compare);
  const noise = sides.secondary ? differences(primary, sides.secondary, opts.compare) : [];
  for (const t of TARGETS) if (sides[t]) counters.bodyFlags(t, sides[t].flags());
  counters.compared(endpoint, raw, noise, (d) => example(rec, d, outcomes, sides));
}

/**
 * One target's response: status and headers lifted at once, the body decoded, and a JSON body
 * parsed only when it has to be (the primary's always; another only when it cannot be compared
 * with the primary's side by side, aligned.ts, or when an example shows it).
 */
class Side {
  readonly head: LiftedHead;
  readonly decoded: DecodedBody | JsonBytes;
  private whole?: Lifted;

  constructor(r: RawResponse, opts: LiftOptions) {
    this.head = liftHead(r, opts);
    this.decoded = decodeBytes(r.body, this.head.contentType, this.head.contentEncoding, opts.maxBodyBytes, r.cut);
  }

  /** The lifted tree, as liftResponse gives it (a JSON body parsed now if not yet). */
  lifted(): Lifted {
    if (!this.whole) {
      const { body, kind, flags } = 'json' in this.decoded ? parseJson(this.decoded) : this.decoded;
      this.whole = { tree: { status: this.head.status, headers: this.head.headers, body }, bodyKind: kind, flags };
    }
    return this.whole;
  }

  /**
   * The body's flags. A JSON body never parsed was compared side by side with the primary's,
   * which proves it parses: its flags are final.
   */
  flags(): BodyFlag[] {
    return this.whole ? this.whole.flags : this.decoded.flags;
  }
}

/** diffTrees of the two lifted trees, without parsing `other`'s JSON body when aligned.ts can tell. */
function differences(primary: Side, other: Side, opts: CompareOptions): Difference[] {
  const p = primary.lifted();
  if (p.bodyKind === 'json' && 'json' in primary.decoded && 'json' in other.decoded) {
    const body = alignedDiff(primary.decoded.json, p.tree.body, other.decoded.json, opts);
    if (body) {
      // The trees' keys are status, headers, body: their differences in that order.
      const head = diffTrees({ status: p.tree.status, headers: p.tree.headers }, { status: other.head.status, headers: other.head.headers }, opts);
      return body.length ? [...head, ...body] : head;
    }
  }
  return diffTrees(p.tree, other.lifted().tree, opts);
}

function example(rec: Pick<LogRecord, 'method' | 'url' | 'headers' | 'src' | 'seq'>, d: Difference, outcomes: Partial<Record<TargetName, TargetOutcome>>, sides: Partial<Record<TargetName, Side>>): DiffExample {
  const responses: Record<string, DiffExampleResponse> = {};
  const values: Record<string, string> = {};
  for (const t of TARGETS) {
    const l = sides[t]?.lifted();
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
