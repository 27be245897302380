/**
 * The traffic filter language, one module for every entry point (`havok traffic` flags,
 * `GET /traffic?…` query params, a TOML `filter = { … }` table). Pure: parse + validate into a
 * plain `TrafficFilter`, then compile it into
 *   - server-side narrowing: one subject filter (repo, method) and a time range that lets the
 *     server start the scan at the stored time (`since`), and
 *   - a predicate over one stored line (everything, repo and method included, so the predicate
 *     alone is the definition of "matches").
 * Keys: repo, since, until, method, path (glob), route (template), status (code or class),
 * host, trace_id, field.<name> = value | /regex/. docs/traffic.md has the language.
 */
import picomatch from 'picomatch';
import { z } from 'zod';
import { urlPath } from '../../shared/api-name.js';
import { SAFE_TOKEN, trafficFilter, trafficMethodToken } from '../../shared/protocol.js';
import { fieldText, lineHost, lineMethod, lineStatus, lineTime, lineUrl, traceIdOf, type JsonObject } from './line.js';

/** The keys of the language besides `field.<name>`. */
export const FILTER_KEYS = ['repo', 'since', 'until', 'method', 'path', 'route', 'status', 'host', 'trace_id'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export const FIELD_PREFIX = 'field.';

/** A bad filter: `key` names the filter key (`path`, `field.user`), the entry point adds its own prefix. */
export class FilterError extends Error {
  override readonly name = 'FilterError' as const;
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
  }
}

/** A field condition: equal to `equals`, or matching `regex` (source and flags). */
export type FieldMatch = { name: string; equals: string } | { name: string; regex: string; flags: string };

/** A validated filter; plain data (JSON-serialisable), times resolved to epoch ms. */
export interface TrafficFilter {
  repo?: string;
  /** Line time (received_ms, else ts) bounds, epoch ms, inclusive. */
  since?: number;
  until?: number;
  /** Upper case. */
  method?: string;
  /** Glob over the URL's path (picomatch: `*` stays within a segment, `**` crosses). */
  path?: string;
  /** Path template: `:name` matches any one segment (`/items/:id`), other segments literally. */
  route?: string;
  /** `503` or a class `5xx`. */
  status?: string;
  /** Lower case. */
  host?: string;
  trace_id?: string;
  fields?: FieldMatch[];
}

export interface ParseOptions {
  /** Epoch ms that relative times (`15m`, `now`) count back from. */
  now: number;
}

/**
 * Raw key/value pairs (from any entry point) → a validated filter. Values are strings or
 * numbers; an unknown key, a bad value or an empty range throws `FilterError` naming the key.
 */
export function parseFilter(raw: Readonly<Record<string, unknown>>, opts: ParseOptions): TrafficFilter {
  const f: TrafficFilter = {};
  const fields: FieldMatch[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (typeof value !== 'string' && typeof value !== 'number') throw new FilterError(key, `expected a string or number, got ${JSON.stringify(value)}`);
    const text = String(value).trim();
    if (key.startsWith(FIELD_PREFIX)) {
      fields.push(parseField(key, text));
      continue;
    }
    switch (key as FilterKey) {
      case 'repo':
        if (!SAFE_TOKEN.test(text)) throw new FilterError(key, `a repo name is letters, digits, _ and -, got ${JSON.stringify(text)}`);
        f.repo = text;
        break;
      case 'since':
      case 'until':
        f[key as 'since' | 'until'] = parseTime(key, text, opts.now);
        break;
      case 'method':
        if (!SAFE_TOKEN.test(text)) throw new FilterError(key, `expected an HTTP method such as GET, got ${JSON.stringify(text)}`);
        f.method = text.toUpperCase();
        break;
      case 'path':
        compileGlob(key, text);
        f.path = text;
        break;
      case 'route':
        if (!text.startsWith('/')) throw new FilterError(key, `a route template starts with /, e.g. /items/:id; got ${JSON.stringify(text)}`);
        f.route = text;
        break;
      case 'status':
        if (!/^[1-5](\d\d|xx)$/i.test(text)) throw new FilterError(key, `expected a status code (503) or class (1xx..5xx), got ${JSON.stringify(text)}`);
        f.status = text.toLowerCase();
        break;
      case 'host':
        if (text === '') throw new FilterError(key, 'must not be empty');
        f.host = text.toLowerCase();
        break;
      case 'trace_id':
        if (text === '') throw new FilterError(key, 'must not be empty');
        f.trace_id = text;
        break;
      default:
        throw new FilterError(key, `unknown filter key; known: ${FILTER_KEYS.join(', ')}, field.<name>`);
    }
  }
  if (fields.length) f.fields = fields;
  if (f.since !== undefined && f.until !== undefined && f.until < f.since) {
    throw new FilterError('until', `ends before since (${new Date(f.until).toISOString()} < ${new Date(f.since).toISOString()})`);
  }
  return f;
}

function parseField(key: string, text: string): FieldMatch {
  const name = key.slice(FIELD_PREFIX.length);
  if (name === '') throw new FilterError(key, 'field.<name> needs a field name, e.g. field.user');
  const re = /^\/(.*)\/([a-z]*)$/s.exec(text);
  if (!re) return { name, equals: text };
  compileRegex(key, re[1]!, re[2]!);
  return { name, regex: re[1]!, flags: re[2]! };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time: epoch ms (digits), ISO 8601 (`2026-12-03T10:00:00Z`; without a zone it is UTC),
 * `now`, or a duration ago (`90s`, `15m`, `2h`, `7d`).
 */
export function parseTime(key: string, text: string, now: number): number {
  if (/^\d+$/.test(text)) return Number(text);
  if (text === 'now') return now;
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (rel) return now - Math.round(Number(rel[1]) * UNIT_MS[rel[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(text) || text.length === 10 ? text : `${text}Z`;
    const ms = Date.parse(zoned.replace(' ', 'T'));
    if (!Number.isNaN(ms)) return ms;
  }
  throw new FilterError(key, `expected epoch ms, ISO 8601 (2026-12-03T10:00:00Z), now, or a duration ago (15m, 2h, 7d); got ${JSON.stringify(text)}`);
}

function compileGlob(key: string, glob: string): (path: string) => boolean {
  if (glob === '') throw new FilterError(key, 'an empty glob matches nothing');
  try {
    return picomatch(glob, { dot: true, strictBrackets: true });
  } catch (err) {
    throw new FilterError(key, `bad glob ${JSON.stringify(glob)}: ${(err as Error).message}`);
  }
}

function compileRegex(key: string, source: string, flags: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new FilterError(key, `bad regex /${source}/${flags}: ${(err as Error).message}`);
  }
}

/** `/items/:id` matches `/items/7` and `/items/abc`, not `/items` or `/items/7/x`. */
export function routeMatcher(template: string): (path: string) => boolean {
  const want = template.split('/');
  return (path) => {
    const got = path.split('/');
    if (got.length !== want.length) return false;
    for (let i = 0; i < want.length; i++) {
      const w = want[i]!;
      if (w.startsWith(':') ? got[i] === '' : got[i] !== w) return false;
    }
    return true;
  };
}

function statusMatcher(status: string): (s: number | undefined) => boolean {
  if (status.endsWith('xx')) {
    const cls = Number(status[0]);
    return (s) => s !== undefined && Math.floor(s / 100) === cls;
  }
  const code = Number(status);
  return (s) => s === code;
}

/** Repo of a stored line (from its subject) and the line itself. */
export type LinePredicate = (line: JsonObject, repo: string) => boolean;

export interface CompiledFilter {
  filter: TrafficFilter;
  /** Server-side narrowing by subject: `havok.traffic.<repo|*>.<METHOD|*>`. */
  subject: string;
  /** Line-time bounds (epoch ms, inclusive); the scan starts at the stored time of `since`. */
  since?: number;
  until?: number;
  /** The whole filter as one predicate (repo and method included). */
  matches: LinePredicate;
  /**
   * A necessary condition on the stored bytes, checked before decoding: false = cannot match
   * (a literal the predicate needs is absent). Undefined when the filter needs no literal.
   */
  mayMatch?: (data: Uint8Array) => boolean;
}

export interface CompileOptions {
  /** Field holding the trace id (the repo's trace_field); default: the usual names and traceparent. */
  traceField?: string;
}

/** A validated filter → subject, time range and predicate. Conditions are checked cheapest first. */
export function compileFilter(f: TrafficFilter, opts: CompileOptions = {}): CompiledFilter {
  const tests: LinePredicate[] = [];
  if (f.repo !== undefined) tests.push((_l, repo) => repo === f.repo);
  if (f.method !== undefined) {
    // The same token the line's subject carries, so predicate and subject filter agree.
    const m = trafficMethodToken(f.method);
    tests.push((l) => trafficMethodToken(lineMethod(l)) === m);
  }
  if (f.since !== undefined || f.until !== undefined) {
    const lo = f.since ?? -Infinity;
    const hi = f.until ?? Infinity;
    tests.push((l) => {
      const t = lineTime(l);
      return t !== undefined && t >= lo && t <= hi;
    });
  }
  if (f.status !== undefined) {
    const ok = statusMatcher(f.status);
    tests.push((l) => ok(lineStatus(l)));
  }
  if (f.host !== undefined) tests.push((l) => lineHost(l) === f.host);
  if (f.trace_id !== undefined) tests.push((l) => traceIdOf(l, opts.traceField) === f.trace_id);
  if (f.path !== undefined) {
    const glob = compileGlob('path', f.path);
    tests.push((l) => glob(urlPath(lineUrl(l))));
  }
  if (f.route !== undefined) {
    const route = routeMatcher(f.route);
    tests.push((l) => route(urlPath(lineUrl(l))));
  }
  for (const fm of f.fields ?? []) {
    if ('equals' in fm) tests.push((l) => fieldText(l, fm.name) === fm.equals);
    else {
      const re = compileRegex(`${FIELD_PREFIX}${fm.name}`, fm.regex, fm.flags.replace(/[gy]/g, ''));
      tests.push((l) => {
        const v = fieldText(l, fm.name);
        return v !== undefined && re.test(v);
      });
    }
  }
  const mayMatch = literalCheck(requiredLiterals(f));
  return {
    filter: f,
    subject: trafficFilter(f.repo, f.method),
    ...(mayMatch ? { mayMatch } : {}),
    ...(f.since !== undefined ? { since: f.since } : {}),
    ...(f.until !== undefined ? { until: f.until } : {}),
    matches: (line, repo) => tests.every((t) => t(line, repo)),
  };
}

/** Text that JSON writes as is: no quote, backslash or control character. */
const LITERAL_SAFE = /^[^"\\\u0000-\u001f]+$/;
/** Glob syntax (picomatch): a path glob's literal prefix ends before the first of these. */
const GLOB_SPECIAL = /[*?[\]{}()!+@\\]/;

/**
 * Texts every matching line's JSON must contain: a field's equal value, a status code, the
 * literal start of a path glob or route template. A field's text equal to a value appears in
 * the JSON as written (JSON.stringify escapes only quotes, backslashes and control characters).
 */
export function requiredLiterals(f: TrafficFilter): string[] {
  const out: string[] = [];
  for (const fm of f.fields ?? []) if ('equals' in fm && LITERAL_SAFE.test(fm.equals)) out.push(fm.equals);
  if (f.status !== undefined && !f.status.endsWith('xx')) out.push(f.status);
  // A leading `!` negates a glob: nothing is required then.
  if (f.path !== undefined && !f.path.startsWith('!')) {
    const cut = f.path.search(GLOB_SPECIAL);
    // Without its last `/`: `/a/**` matches `/a` too.
    out.push((cut < 0 ? f.path : f.path.slice(0, cut)).replace(/\/$/, ''));
  }
  if (f.route !== undefined) {
    const cut = f.route.indexOf(':');
    out.push(cut < 0 ? f.route : f.route.slice(0, cut));
  }
  // One character (a lone `/`) is in every line: no use.
  return out.filter((l) => l.length >= 2 && LITERAL_SAFE.test(l));
}

const BACKSLASH = 0x5c;

/**
 * The byte check of `literals`, or undefined for none. A line holding any backslash is let
 * through to the full predicate: an escape (`\u002f`) could spell a literal differently.
 */
function literalCheck(literals: string[]): ((data: Uint8Array) => boolean) | undefined {
  if (literals.length === 0) return undefined;
  const needles = literals.map((l) => Buffer.from(l, 'utf8'));
  return (data) => {
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (b.includes(BACKSLASH)) return true;
    for (const n of needles) if (!b.includes(n)) return false;
    return true;
  };
}

// ---------------------------------------------------------------------------------------------
// Entry points: each turns its own shape into raw pairs for parseFilter.

/** `havok traffic` flags (commander's camelCase options); `--field NAME=VALUE` repeatable. */
export interface FilterFlags {
  repo?: string;
  since?: string;
  until?: string;
  method?: string;
  path?: string;
  route?: string;
  status?: string;
  host?: string;
  traceId?: string;
  field?: string[];
}

export function rawFromFlags(flags: FilterFlags): Record<string, string> {
  const raw: Record<string, string> = {};
  const put = (k: string, v: string | undefined): void => {
    if (v !== undefined) raw[k] = v;
  };
  put('repo', flags.repo);
  put('since', flags.since);
  put('until', flags.until);
  put('method', flags.method);
  put('path', flags.path);
  put('route', flags.route);
  put('status', flags.status);
  put('host', flags.host);
  put('trace_id', flags.traceId);
  for (const nv of flags.field ?? []) {
    const eq = nv.indexOf('=');
    if (eq <= 0) throw new FilterError('field', `expected NAME=VALUE or NAME=/regex/, got ${JSON.stringify(nv)}`);
    raw[`${FIELD_PREFIX}${nv.slice(0, eq)}`] = nv.slice(eq + 1);
  }
  return raw;
}

/** URL query params; `reserved` (paging: limit, order, cursor) are left to the caller. A repeated key is an error. */
export function rawFromQuery(params: URLSearchParams, reserved: readonly string[] = []): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const [k, v] of params) {
    if (reserved.includes(k)) continue;
    if (k in raw) throw new FilterError(k, 'given more than once');
    raw[k] = v;
  }
  return raw;
}

/**
 * A TOML table: `filter = { repo = "shop", status = "5xx", "field.user" = "u1" }`; fields may
 * also be a nested table `field = { user = "u1" }`.
 */
export function rawFromTable(table: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(table)) {
    if (k === 'field' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [name, fv] of Object.entries(v as Record<string, unknown>)) raw[`${FIELD_PREFIX}${name}`] = fv;
    } else raw[k] = v;
  }
  return raw;
}

/** The filter back as query params (for links and the next page's URL). */
export function filterToQuery(f: TrafficFilter): URLSearchParams {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = f[k];
    if (v !== undefined) q.set(k, String(v));
  }
  for (const fm of f.fields ?? []) q.set(`${FIELD_PREFIX}${fm.name}`, 'equals' in fm ? fm.equals : `/${fm.regex}/${fm.flags}`);
  return q;
}

/**
 * A TOML `filter = { … }` table (e.g. `[fetcher.jetstream] filter`) as a zod schema, so a bad
 * filter fails config loading (exit 2) with the issue at `<section>.filter.<key>`. The table
 * stays as written; `filterFromTable` resolves it (relative times against the start).
 */
export const filterTableSchema = z.record(z.string(), z.unknown()).superRefine((table, ctx) => {
  try {
    parseFilter(rawFromTable(table), { now: Date.now() });
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    ctx.addIssue({ code: 'custom', path: err.key.split('.', 1).concat(err.key.startsWith(FIELD_PREFIX) ? [err.key.slice(FIELD_PREFIX.length)] : []), message: err.message.slice(err.key.length + 2) });
  }
});

export function filterFromTable(table: Readonly<Record<string, unknown>>, now: number): TrafficFilter {
  return parseFilter(rawFromTable(table), { now });
}
