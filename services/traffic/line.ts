/**
 * Reading the fields of one stored traffic line (the line's JSON object plus `received_ms`, see
 * docs/traffic.md). Pure; shared by the filter, the trace indexer, stats and the summaries.
 * Field names follow the jsonl analyzer defaults: `ts`, `method`, `url`, `headers`, `status`,
 * `host`, and a trace id in `trace_id`/`traceId`/`TraceId` or a W3C `traceparent`.
 */

export type JsonObject = Record<string, unknown>;

/** Fields tried in order for a line's trace id when the repo names no `trace_field`. */
export const DEFAULT_TRACE_FIELDS = ['trace_id', 'traceId', 'TraceId'] as const;

/** W3C trace context: `version-traceid(32 hex)-parentid(16 hex)-flags`. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/i;

const scalar = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);

/** A header's value by case-insensitive name (first of a repeated header). */
export function headerOf(line: JsonObject, name: string): string | undefined {
  const h = line.headers;
  if (h === null || typeof h !== 'object') return undefined;
  const want = name.toLowerCase();
  // Most senders write header names in lower case: that key is looked up first, without a walk
  // over every header (the gateway asks each line for its traceparent).
  const exact = (h as JsonObject)[want];
  if (exact !== undefined) return Array.isArray(exact) ? scalar(exact[0]) : scalar(exact);
  for (const [k, v] of Object.entries(h as JsonObject)) {
    if (k.toLowerCase() !== want) continue;
    return Array.isArray(v) ? scalar(v[0]) : scalar(v);
  }
  return undefined;
}

/**
 * The line's trace id: the repo's `trace_field` when given, else the first present of
 * `trace_id`, `traceId`, `TraceId`, else the trace id inside a `traceparent` field or header.
 */
export function traceIdOf(line: JsonObject, traceField?: string): string | undefined {
  if (traceField !== undefined) return nonEmpty(scalar(fieldOf(line, traceField)));
  for (const f of DEFAULT_TRACE_FIELDS) {
    const v = nonEmpty(scalar(line[f]));
    if (v !== undefined) return v;
  }
  const tp = scalar(line.traceparent) ?? headerOf(line, 'traceparent');
  const m = tp === undefined ? null : TRACEPARENT.exec(tp);
  return m ? m[1]!.toLowerCase() : undefined;
}

const SAFE_SUBJECT_TOKEN = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * A trace id as one subject token: as is when it is letters, digits, `_` and `-` (W3C and most
 * ids), else `=` + base64url of its UTF-8 (raw tokens never contain `=`, so the two never meet).
 */
export function traceKeyToken(traceId: string): string {
  return SAFE_SUBJECT_TOKEN.test(traceId) ? traceId : `=${Buffer.from(traceId, 'utf8').toString('base64url')}`;
}

const nonEmpty = (s: string | undefined): string | undefined => (s === '' ? undefined : s);

/** A field by dotted path (`headers.user-agent`): a top-level key of that exact name wins. */
export function fieldOf(line: JsonObject, name: string): unknown {
  if (name in line) return line[name];
  let v: unknown = line;
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as JsonObject)[part];
  }
  return v;
}

/** The field as text for equality and regex matches: scalars as written, objects as JSON. */
export function fieldText(line: JsonObject, name: string): string | undefined {
  const v = fieldOf(line, name);
  if (v === undefined || v === null) return undefined;
  return scalar(v) ?? JSON.stringify(v);
}

/** Epoch ms of a `ts` value: a number (ms) or an ISO 8601 string; undefined otherwise. */
function epochMs(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v !== '') {
    const n = Date.parse(v);
    return Number.isNaN(n) ? undefined : n;
  }
  return undefined;
}

/**
 * The line's time, the one `since`/`until` compare: `received_ms` (when the gateway received it;
 * close to the stored time, so the server can start the scan there), else its `ts`.
 */
export function lineTime(line: JsonObject): number | undefined {
  return epochMs(line.received_ms) ?? epochMs(line.ts);
}

export function lineMethod(line: JsonObject): string {
  return scalar(line.method)?.toUpperCase() ?? '';
}

export function lineUrl(line: JsonObject): string {
  return scalar(line.url) ?? '';
}

/** `host` field, else the authority of an absolute URL, else the Host header; lower case. */
export function lineHost(line: JsonObject): string | undefined {
  const h = scalar(line.host);
  if (h !== undefined && h !== '') return h.toLowerCase();
  const url = lineUrl(line);
  const scheme = url.indexOf('://');
  if (scheme > 0) {
    const rest = url.slice(scheme + 3);
    const end = rest.search(/[/?#]/);
    return (end < 0 ? rest : rest.slice(0, end)).toLowerCase();
  }
  return headerOf(line, 'host')?.toLowerCase();
}

/** The response status as a number (a line may carry it as text); undefined when absent. */
export function lineStatus(line: JsonObject): number | undefined {
  const s = line.status;
  const n = typeof s === 'number' ? s : typeof s === 'string' && /^\d{3}$/.test(s) ? Number(s) : NaN;
  return Number.isInteger(n) ? n : undefined;
}
