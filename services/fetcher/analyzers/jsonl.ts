/**
 * JSON lines: one JSON object per line, its fields mapped to a record by configurable paths
 * (`fetcher.file.fields`). A path may be nested with dots (`request.url`); a flat key that itself
 * contains dots (`"http.url": …`, as some loggers write) is tried first.
 */
import { decodeBody, type BodyEncoding } from './body.js';
import { isLowerAscii, upperCase } from './case.js';
import { parseTime } from './time.js';
import type { Analyzer, ParsedRecord } from './types.js';

/** Where each record field is found in the JSON object. */
export interface JsonlFields {
  ts: string;
  method: string;
  url: string;
  headers: string;
  body: string;
}

export const DEFAULT_JSONL_FIELDS: Readonly<JsonlFields> = { ts: 'ts', method: 'method', url: 'url', headers: 'headers', body: 'body' };

type Json = Record<string, unknown>;
type Getter = (o: Json) => unknown;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Compiles a path once, so the per-line cost is a few property reads. A one-key path is a function
 * of its own with the key written in (`o["url"]`), so each getter's property load sees one key
 * and one object shape: closures of one `(o) => o[path]` would share that load's inline cache,
 * see five keys, and go megamorphic. The key is JSON-quoted, which makes it a JS string literal.
 */
function getter(path: string): Getter {
  const parts = path.split('.');
  if (parts.length === 1) return new Function('o', `return o[${JSON.stringify(path)}];`) as Getter;
  return (o) => {
    if (path in o) return o[path];
    let v: unknown = o;
    for (const p of parts) {
      if (!isObject(v)) return undefined;
      v = v[p];
    }
    return v;
  };
}

/**
 * Most loggers write lower-case header names and string values: then the parsed object already is
 * the headers (it is fresh from JSON.parse and referenced nowhere else), and no copy is made. An
 * empty one is no headers; a `__proto__` key is left to the copy, whose store drops it.
 */
function usableAsIs(v: Json): boolean {
  let any = false;
  for (const k in v) {
    if (typeof v[k] !== 'string' || !isLowerAscii(k) || k === '__proto__') return false;
    any = true;
  }
  return any;
}

/** Header values as strings; arrays (repeated headers) joined as HTTP does. Names lower-cased. */
function toHeaders(v: unknown): Record<string, string> | undefined {
  // Some loggers write the header map as a JSON string.
  if (typeof v === 'string' && v.charCodeAt(0) === 123 /* { */) {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (!isObject(v)) return undefined;
  if (usableAsIs(v)) return v as Record<string, string>;
  let out: Record<string, string> | undefined;
  for (const k in v) {
    const x = v[k];
    let s: string;
    if (typeof x === 'string') s = x;
    else if (typeof x === 'number' || typeof x === 'boolean') s = String(x);
    else if (Array.isArray(x)) s = x.map(String).join(', ');
    else continue;
    (out ??= {})[k.toLowerCase()] = s;
  }
  return out;
}

function toBody(v: unknown, encoding: BodyEncoding): string | Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  // Only a string can be base64; an object body is sent as its JSON text either way.
  if (typeof v === 'string') return decodeBody(v, encoding);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** First non-blank char is `{`: anything else cannot be a JSON object, and JSON.parse throwing
 *  is far slower than this check (it matters when jsonl sits behind another format in a chain). */
function looksLikeObject(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 123) return true;
    if (c !== 32 && c !== 9 && c !== 0xfeff) return false;
  }
  return false;
}

/**
 * An analyzer for JSON lines with the given field paths (unset ones keep their default name).
 * Not JSON, not an object, or no url/ts → undefined; a ts present but unreadable → ts NaN (the
 * chain reports it as a bad timestamp). Other top-level scalars become `fields` for hash_field.
 * `bodyEncoding` = `base64`: a string body is base64 of the bytes to send. `withFields` false
 * leaves `fields` out (only `hash_field` reads them).
 */
export function jsonlAnalyzer(fields: Partial<JsonlFields> = {}, bodyEncoding: BodyEncoding = 'raw', withFields = true): Analyzer {
  const f: JsonlFields = { ...DEFAULT_JSONL_FIELDS, ...fields };
  const get = { ts: getter(f.ts), method: getter(f.method), url: getter(f.url), headers: getter(f.headers), body: getter(f.body) };
  const mapped = new Set([f.ts, f.method, f.url, f.headers, f.body]);

  return (line) => {
    if (!looksLikeObject(line)) return undefined;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      return undefined;
    }
    if (!isObject(o)) return undefined;
    const url = get.url(o);
    const ts = get.ts(o);
    if (typeof url !== 'string' || url === '' || ts === undefined || ts === null) return undefined;
    const method = get.method(o);
    const rec: ParsedRecord = {
      ts: parseTime(ts),
      // Logged methods are sometimes lower case; servers reject `get`, so replay the canonical form.
      method: typeof method === 'string' && method !== '' ? upperCase(method) : 'GET',
      url,
    };
    const headers = toHeaders(get.headers(o));
    if (headers) rec.headers = headers;
    const body = toBody(get.body(o), bodyEncoding);
    if (body !== undefined) rec.body = body;
    if (!withFields) return rec;
    let extra: Record<string, string> | undefined;
    for (const k in o) {
      if (mapped.has(k)) continue;
      const v = o[k];
      if (typeof v === 'string') (extra ??= {})[k] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') (extra ??= {})[k] = String(v);
    }
    if (extra) rec.fields = extra;
    return rec;
  };
}
