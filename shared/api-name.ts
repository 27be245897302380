/**
 * API names for per-API statistics: the path with its variable segments replaced, so
 * `/items/123` and `/items/456` both count as `/items/:id`. Pure.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^\d+$/;
/** Hex ids: 8+ hex digits with at least one digit (so `/deadbeef-words` stay words). */
const HEX = /^(?=.*\d)[0-9a-f]{8,}$/i;

/** `/items/123?x=1` → `/items/:id`. Accepts a path or an absolute URL. */
export function apiTemplate(url: string): string {
  let path = url;
  if (!path.startsWith('/')) {
    const scheme = path.indexOf('://');
    if (scheme >= 0) {
      const slash = path.indexOf('/', scheme + 3);
      path = slash >= 0 ? path.slice(slash) : '/';
    }
  }
  const q = path.search(/[?#]/);
  if (q >= 0) path = path.slice(0, q);
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) {
    const seg = parts[i];
    if (seg === '') continue;
    if (NUMBER.test(seg)) parts[i] = ':id';
    else if (UUID.test(seg)) parts[i] = ':uuid';
    else if (HEX.test(seg)) parts[i] = ':hex';
  }
  return parts.join('/') || '/';
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
