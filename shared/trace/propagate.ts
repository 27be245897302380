/**
 * The trace context of one replayed request: a fresh trace id (or the record's own, with
 * `keep_original`) and a new span id, written in the configured header format, plus template
 * headers for in-house schemes. Pure apart from the id pool's random bytes.
 *
 * Formats: W3C `traceparent: 00-<32 hex trace>-<16 hex span>-<01|00>` (+ `tracestate`), B3 single
 * `b3: <trace>-<span>-<1|0>[-<parent>]`, B3 multi `x-b3-traceid`/`x-b3-spanid`/
 * `x-b3-parentspanid`/`x-b3-sampled`, Jaeger `uber-trace-id: <trace>:<span>:<parent|0>:<1|0>`.
 */
import type { LogRecord } from '../protocol.js';
import { IdPool } from './ids.js';
import type { Propagation, TraceSettings } from './settings.js';

/** Every header a propagation format writes: the log's own are replaced, never sent beside ours. */
const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'uber-trace-id'];

/** A trace id (and span, when the format has one) found in a record. */
export interface OriginalContext {
  /** Lower-case hex, 1–32 digits, as the log had it. */
  traceId: string;
  spanId?: string;
}

/** Sets the trace headers of one request; returns the trace id as sent (for the report's samples). */
export interface Tracer {
  apply(rec: LogRecord, headers: Record<string, string>): string;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_ID = /^[0-9a-f]{1,32}$/i;
const HEX_SPAN = /^[0-9a-f]{1,16}$/i;

/**
 * Reads a trace id from a header value in any of the formats above, a UUID, or plain hex (up to
 * 32 digits, e.g. `x-trace-id`); undefined for anything else (a non-hex id cannot be reused).
 */
export function parseTraceValue(value: string): OriginalContext | undefined {
  const v = value.trim();
  if (UUID.test(v)) return { traceId: v.replace(/-/g, '').toLowerCase() };
  const tp = TRACEPARENT.exec(v);
  if (tp) return { traceId: tp[1].toLowerCase(), spanId: tp[2].toLowerCase() };
  const parts = v.split(v.includes(':') ? ':' : '-');
  if (!HEX_ID.test(parts[0]) || /^0+$/.test(parts[0])) return undefined;
  const traceId = parts[0].toLowerCase();
  return parts.length > 1 && HEX_SPAN.test(parts[1]) ? { traceId, spanId: parts[1].toLowerCase() } : parts.length === 1 ? { traceId } : undefined;
}

/** The record's trace context: the first of `fields` (headers in any case; `key` = hash_field value) that parses. */
export function originalContext(rec: LogRecord, fields: readonly string[]): OriginalContext | undefined {
  for (const field of fields) {
    let value: string | undefined;
    if (field === 'key') value = rec.key;
    else if (rec.headers) {
      const want = field.toLowerCase();
      for (const k in rec.headers) if (k.toLowerCase() === want) value = rec.headers[k];
    }
    const ctx = value === undefined ? undefined : parseTraceValue(value);
    if (ctx) return ctx;
  }
  return undefined;
}

type Part = string | 'trace_id' | 'span_id' | 'parent_id' | 'sampled' | 'job';
const VARS = new Set(['trace_id', 'span_id', 'parent_id', 'sampled', 'job']);

/** `"{trace_id}-x"` → `[{v:'trace_id'}, 'x']`; unknown `{names}` stay literal. */
function compileTemplate(t: string): Array<{ v: Part } | string> {
  const out: Array<{ v: Part } | string> = [];
  let last = 0;
  for (const m of t.matchAll(/\{([a-z_]+)\}/g)) {
    if (!VARS.has(m[1])) continue;
    if (m.index > last) out.push(t.slice(last, m.index));
    out.push({ v: m[1] });
    last = m.index + m[0].length;
  }
  if (last < t.length) out.push(t.slice(last));
  return out;
}

/** True when the settings ask for any header at all. */
export function tracing(s: TraceSettings): boolean {
  return s.propagation !== 'off' || Object.keys(s.headers).length > 0;
}

/** The tracer of these settings, or undefined when they add nothing (propagation off, no templates). */
export function compileTracer(s: TraceSettings, job: string): Tracer | undefined {
  if (!tracing(s)) return undefined;
  const ids = new IdPool();
  const format: Propagation = s.propagation;
  const sampled = s.sampled ? '1' : '0';
  const flags = s.sampled ? '01' : '00';
  const tracestate = `havok=${job}`;
  const templates = Object.entries(s.headers).map(([name, t]) => [name.toLowerCase(), compileTemplate(t)] as const);
  const fields = s.original_fields;
  return {
    apply(rec, headers) {
      const orig = s.keep_original ? originalContext(rec, fields) : undefined;
      const traceId = orig ? orig.traceId : ids.traceId();
      const spanId = ids.spanId();
      const parent = orig?.spanId;
      let sent = traceId;
      // `delete` only what is there: deleting a missing key still turns the object into a slow dictionary.
      if (format !== 'off') for (const h of TRACE_HEADERS) if (headers[h] !== undefined) delete headers[h];
      switch (format) {
        case 'w3c':
          sent = traceId.padStart(32, '0');
          headers.traceparent = `00-${sent}-${spanId}-${flags}`;
          if (s.tracestate) headers.tracestate = tracestate;
          break;
        case 'b3':
          headers.b3 = parent ? `${traceId}-${spanId}-${sampled}-${parent}` : `${traceId}-${spanId}-${sampled}`;
          break;
        case 'b3multi':
          headers['x-b3-traceid'] = traceId;
          headers['x-b3-spanid'] = spanId;
          if (parent) headers['x-b3-parentspanid'] = parent;
          headers['x-b3-sampled'] = sampled;
          break;
        case 'jaeger':
          headers['uber-trace-id'] = `${traceId}:${spanId}:${parent ?? '0'}:${sampled}`;
          break;
        case 'off':
          break;
      }
      for (const [name, parts] of templates) {
        let v = '';
        for (const p of parts) {
          if (typeof p === 'string') v += p;
          else if (p.v === 'trace_id') v += traceId;
          else if (p.v === 'span_id') v += spanId;
          else if (p.v === 'parent_id') v += parent ?? '';
          else if (p.v === 'sampled') v += sampled;
          else v += job;
        }
        headers[name] = v;
      }
      return sent;
    },
  };
}
