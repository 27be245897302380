/**
 * API names for per-API statistics: the path with its variable segments replaced, so
 * `/items/123` and `/items/456` both count as `/items/:id`. Pure.
 */
/** `/items/123?x=1` → `/items/:id`. Accepts a path or an absolute URL. */
export function apiTemplate(url: string): string {
  const [from, to] = pathBounds(url);
  // One pass over the segments; a new string only when a segment is replaced (hot path: once
  // per answered request).
  let out = '';
  let copied = from;
  for (let start = from; start <= to; ) {
    let end = url.indexOf('/', start);
    if (end < 0 || end > to) end = to;
    const name = end > start ? segmentName(url, start, end) : undefined;
    if (name !== undefined) {
      out += url.slice(copied, start) + name;
      copied = end;
    }
    start = end + 1;
  }
  const path = copied === from ? url.slice(from, to) : out + url.slice(copied, to);
  return path || '/';
}

/** Start and end of the path in a path+query or absolute URL (without query and fragment). */
function pathBounds(url: string): [number, number] {
  let from = 0;
  if (url.charCodeAt(0) !== 0x2f) {
    const scheme = url.indexOf('://');
    if (scheme >= 0) {
      const slash = url.indexOf('/', scheme + 3);
      if (slash < 0) return [url.length, url.length];
      from = slash;
    }
  }
  // The path ends at the query or the fragment.
  let to = url.length;
  for (let i = from; i < to; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x3f || c === 0x23) to = i;
  }
  return [from, to];
}

/** The path of a path+query or absolute URL, without query and fragment; `/` when empty. */
export function urlPath(url: string): string {
  const [from, to] = pathBounds(url);
  return url.slice(from, to) || '/';
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/**
 * `:id` for digits only, `:uuid` for a UUID (8-4-4-4-12 hex digits, any case), `:hex` for 8 or
 * more hex digits with at least one digit (so `/deadbeef-words` stay words); else undefined.
 */
function segmentName(s: string, start: number, end: number): string | undefined {
  let digits = 0;
  let hex = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (isHex(c)) hex++;
    else break;
  }
  const len = end - start;
  if (digits === len) return ':id';
  if (digits + hex === len) return len >= 8 && digits > 0 ? ':hex' : undefined;
  if (len !== 36) return undefined;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(start + i);
    if (i === 8 || i === 13 || i === 18 || i === 23 ? c !== 0x2d : !isHex(c)) return undefined;
  }
  return ':uuid';
}

/** Name used once `cap` distinct APIs have been seen: cardinality never explodes. */
export const OTHER_API = 'other';

/** Remembers the first `cap` API names; later new names map to `other`. */
export class ApiNamer {
  private readonly known = new Set<string>();
  constructor(private readonly cap: number) {}

  name(url: string, given?: string): string {
    const api = given ?? apiTemplate(url);
    if (this.known.has(api)) return api;
    if (this.known.size >= this.cap) return OTHER_API;
    this.known.add(api);
    return api;
  }
}
