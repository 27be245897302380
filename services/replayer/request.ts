/**
 * Turns a record into the request to send: the target origin replaces the log's host, hop-by-hop
 * headers are dropped, configured headers are added and `remove_headers` removed. Pure.
 */
import type { LogRecord } from '../../shared/protocol.js';

export interface OutgoingRequest {
  method: string;
  /** Path and query, always starting with `/`. */
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/** Headers that describe one connection, not the request; undici sets its own. */
const HOP_BY_HOP = new Set(['host', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

export interface RequestRules {
  /** Added to (and overriding) the log's headers. Keys lower-cased by the caller. */
  add: Record<string, string>;
  /** Lower-cased header names to remove. */
  remove: ReadonlySet<string>;
}

export function compileRules(add: Record<string, string>, remove: readonly string[]): RequestRules {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(add)) lower[k.toLowerCase()] = v;
  return { add: lower, remove: new Set(remove.map((h) => h.toLowerCase())) };
}

/** Path and query of a log URL; an absolute URL loses its scheme and host. */
export function pathOf(url: string): string {
  if (url.startsWith('/')) return url;
  const scheme = url.indexOf('://');
  if (scheme < 0) return '/' + url;
  // The origin ends at the first '/', '?' or '#': `http://h?q=1` keeps its query as `/?q=1`.
  const rest = url.slice(scheme + 3);
  const end = rest.search(/[/?#]/);
  if (end < 0 || rest[end] === '#') return '/';
  return rest[end] === '/' ? rest.slice(end) : '/' + rest.slice(end);
}

export function buildRequest(rec: LogRecord, rules: RequestRules): OutgoingRequest {
  const headers: Record<string, string> = {};
  if (rec.headers) {
    for (const [k, v] of Object.entries(rec.headers)) {
      const key = k.toLowerCase();
      if (!HOP_BY_HOP.has(key) && !rules.remove.has(key)) headers[key] = v;
    }
  }
  for (const [k, v] of Object.entries(rules.add)) if (!rules.remove.has(k)) headers[k] = v;
  const method = rec.method.toUpperCase();
  // GET and HEAD carry no body in HTTP/1.1 replays (undici refuses one on GET).
  const body = rec.body !== undefined && method !== 'GET' && method !== 'HEAD' ? rec.body : undefined;
  return { method, path: pathOf(rec.url), headers, ...(body !== undefined ? { body } : {}) };
}
