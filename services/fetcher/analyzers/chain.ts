/**
 * The analyzer chain: user module analyzers first, then the built-ins named by
 * `analyzer.handler` (or the file `format`); the first analyzer that recognises a line wins, as in
 * the original Havok. The chain also guards the contract for user code — a throwing analyzer or a
 * malformed record becomes a parse error with a reason, never a crash — and computes the
 * routing key.
 */
import { ANALYZERS, type AnalyzerName } from './names.js';
import { ConfigError } from '../../../shared/errors.js';
import type { BodyEncoding } from './body.js';
import { combinedAnalyzer, commonAnalyzer } from './combined.js';
import { jsonlAnalyzer, type JsonlFields } from './jsonl.js';
import { compileNginxFormat } from './nginx.js';
import { regexAnalyzer } from './regex.js';
import { parseTime } from './time.js';
import type { Analyzer, ParsedRecord } from './types.js';

/** A record as the fetcher publishes it: `fields` dropped (they only serve the key), `key` added. */
/** `line`: 1-based line in its source (set by the source, for the report's samples). */
export type ChainRecord = Omit<ParsedRecord, 'fields'> & { key?: string; line?: number };

export type ChainResult =
  | { ok: true; rec: ChainRecord }
  | { ok: false; filtered: true }
  | { ok: false; filtered: false; reason: string };

export interface Chain {
  analyze(line: string): ChainResult;
}

export interface ChainOptions {
  /** `fetcher.file.format`: the chain when no handler list is given. */
  format: AnalyzerName;
  /** `fetcher.file.fields`: jsonl field paths. */
  fields?: Partial<JsonlFields>;
  /** `analyzer.handler`: built-in names, in order. */
  handler?: readonly string[];
  /** Analyzers from `analyzer.module`, tried first. */
  module?: readonly Analyzer[];
  /**
   * `analyzer.hash_field`: a record field, then a header (case-insensitive), keys sticky routing.
   * A value of `-` (loggers' "none") or empty is no key.
   */
  hashField?: string;
  /** `fetcher.file.log_format`: the nginx analyzer's format (default: nginx's `combined`). */
  logFormat?: string;
  /** `fetcher.file.regex`: the regex analyzer's pattern (required when `regex` is used). */
  regex?: string;
  /** `fetcher.file.body_encoding` of bodies read by jsonl, nginx and regex. */
  bodyEncoding?: BodyEncoding;
}

// Factories: only the analyzers a chain names are built, so an unused `regex` needs no pattern.
const BUILTINS = {
  combined: (o) => combinedAnalyzer(o.hashField !== undefined),
  common: (o) => commonAnalyzer(o.hashField !== undefined),
  jsonl: (o) => jsonlAnalyzer(o.fields, o.bodyEncoding, o.hashField !== undefined),
  nginx: (o) => compileNginxFormat(o.logFormat, { bodyEncoding: o.bodyEncoding, withFields: o.hashField !== undefined }),
  regex: (o) => regexAnalyzer(o.regex, { bodyEncoding: o.bodyEncoding, withFields: o.hashField !== undefined }),
} as const satisfies Record<AnalyzerName, (opts: ChainOptions) => Analyzer>;

const isBuiltin = (n: string): n is AnalyzerName => (ANALYZERS as readonly string[]).includes(n);

// Result objects shared by every call: they carry no per-line data.
const FILTERED: ChainResult = { ok: false, filtered: true };
const EMPTY: ChainResult = { ok: false, filtered: false, reason: 'empty line' };
const BAD_TS: ChainResult = { ok: false, filtered: false, reason: 'bad timestamp' };

function isBlank(line: string): boolean {
  // Most lines start with a visible character: decide on it before running a regex.
  return line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '');
}

/** Builds the chain; throws ConfigError naming `analyzer.handler` for an unknown analyzer name. */
export function buildChain(opts: ChainOptions): Chain {
  const named: Array<{ name: string; fn: Analyzer; user: boolean }> = [];
  (opts.module ?? []).forEach((fn, i) => named.push({ name: fn.name || `module[${i}]`, fn, user: true }));
  const names = opts.handler && opts.handler.length > 0 ? opts.handler : [opts.format];
  const unknown = names.filter((n) => !isBuiltin(n));
  if (unknown.length > 0) {
    throw new ConfigError([
      { key: 'analyzer.handler', message: `unknown analyzer ${unknown.map((n) => JSON.stringify(n)).join(', ')}; valid names: ${ANALYZERS.join(', ')}` },
    ]);
  }
  for (const n of names as AnalyzerName[]) named.push({ name: n, fn: BUILTINS[n](opts), user: false });

  const fns = named.map((a) => a.fn);
  const noMatch: ChainResult = { ok: false, filtered: false, reason: `no analyzer matched (tried ${named.map((a) => a.name).join(', ')})` };
  const hashField = opts.hashField;
  const hashHeader = hashField?.toLowerCase();

  function keyOf(p: ParsedRecord): string | undefined {
    if (hashField === undefined) return undefined;
    const v = p.fields?.[hashField] ?? p.headers?.[hashHeader as string];
    if (v !== undefined) return v === '-' || v === '' ? undefined : v;
    // The record's own fields are addressable too (hash_field = "url" keeps a URL on one replayer).
    if (hashField === 'url' || hashField === 'method' || hashField === 'api') return p[hashField];
    return undefined;
  }

  // The usual chain, one built-in and no hash_field, reduced to what can happen there: its
  // records need no check, no key and no copy. The general loop below gives the same results.
  if (named.length === 1 && !named[0].user && hashField === undefined) {
    const only = fns[0];
    const name = named[0].name;
    return {
      analyze(line: string): ChainResult {
        if (isBlank(line)) return EMPTY;
        let p: ParsedRecord | null | undefined;
        try {
          p = only(line);
        } catch (err) {
          return { ok: false, filtered: false, reason: `analyzer ${name} threw: ${(err as Error)?.message ?? String(err)}` };
        }
        if (p === undefined) return noMatch;
        if (p === null) return FILTERED;
        if (Number.isNaN(p.ts)) return BAD_TS;
        return { ok: true, rec: p.fields === undefined ? p : published(p, undefined) };
      },
    };
  }

  return {
    analyze(line: string): ChainResult {
      if (isBlank(line)) return EMPTY;
      for (let i = 0; i < fns.length; i++) {
        let p: ParsedRecord | null | undefined;
        try {
          p = fns[i](line);
        } catch (err) {
          return { ok: false, filtered: false, reason: `analyzer ${named[i].name} threw: ${(err as Error)?.message ?? String(err)}` };
        }
        if (p === undefined) continue;
        if (p === null) return FILTERED;
        if (named[i].user) {
          const problem = checkUserRecord(p);
          if (problem) return { ok: false, filtered: false, reason: `analyzer ${named[i].name} returned ${problem}` };
        }
        if (Number.isNaN(p.ts)) return BAD_TS;
        const key = keyOf(p);
        // A built-in's record without `fields` is already what the fetcher publishes: no copy.
        if (!named[i].user && p.fields === undefined) {
          if (key !== undefined) (p as ChainRecord).key = key;
          return { ok: true, rec: p };
        }
        return { ok: true, rec: published(p, key) };
      }
      return noMatch;
    },
  };
}

/**
 * The record without `fields`, with `key`. Built field by field rather than by copy-and-delete:
 * `delete` would turn every record into a slow dictionary-mode object, and absent fields stay
 * out of the msgpack payload.
 */
function published(p: ParsedRecord, key: string | undefined): ChainRecord {
  const rec: ChainRecord = { ts: p.ts, method: p.method, url: p.url };
  if (p.headers !== undefined) rec.headers = p.headers;
  if (p.body !== undefined) rec.body = p.body;
  if (p.api !== undefined) rec.api = p.api;
  if (key !== undefined) rec.key = key;
  return rec;
}

/**
 * User code is outside the type system: check the shape the rest of the pipeline relies on. A
 * string or Date `ts` is converted in place (a convenience for module authors). Returns a
 * description of the problem, or undefined when the record is usable.
 */
function checkUserRecord(p: ParsedRecord): string | undefined {
  if (typeof p !== 'object') return `a ${typeof p}, not a record`;
  if (typeof p.url !== 'string' || p.url === '') return 'a record without a url string';
  if (typeof p.method !== 'string' || p.method === '') return 'a record without a method string';
  if (typeof p.ts !== 'number') p.ts = parseTime(p.ts);
  if (p.headers !== undefined && (typeof p.headers !== 'object' || p.headers === null)) return 'headers that are not an object';
  if (p.body !== undefined && typeof p.body !== 'string' && !(p.body instanceof Uint8Array)) return 'a body that is not a string or a Uint8Array';
  return undefined;
}
