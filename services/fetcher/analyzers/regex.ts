/**
 * `format = "regex"`: a user's JS regular expression with named groups, for logs no built-in
 * reads. Groups: `ts` (any form time.ts reads: CLF with or without `[]`, ISO 8601, epoch
 * s/ms/µs/ns), `method`, `url` — all three required — and optionally `body` and
 * `header_<name>` (`header_x_user_id` → header `x-user-id`). Every other group goes to `fields`
 * (for `hash_field`), and so do the header groups under their group name.
 *
 * The pattern is used as written: not anchored (add `^` for speed), no flags. (Its named groups
 * are read by number, from the same pattern with the names dropped: see unnameGroups.) A line it does not
 * match is not this format (undefined), so a regex can sit in a chain with other analyzers.
 */
import { ConfigError } from '../../../shared/errors.js';
import { groupCount, groupNames, logRegexProblem } from '../../../shared/log-regex.js';
import { decodeBody, type BodyEncoding } from './body.js';
import { upperCase } from './case.js';
import { parseTimeString } from './time.js';
import type { Analyzer, ParsedRecord } from './types.js';

export const REGEX_KEY = 'fetcher.file.regex';

export interface RegexOptions {
  /** `fetcher.file.body_encoding` of the `body` group. */
  bodyEncoding?: BodyEncoding;
  /** false: no `fields` on records (only `hash_field` reads them); default true. */
  withFields?: boolean;
}

/** `-` (what loggers write for "none") or nothing: no value. */
const isNone = (v: string | undefined): v is undefined => v === undefined || v === '' || v === '-';

// `(?<name>` at lastIndex (sticky); a lookbehind `(?<=` / `(?<!` does not match it.
const NAMED_GROUP = /\(\?<([A-Za-z_$][\w$]*)>/y;

/**
 * `pattern` with each `(?<name>` turned into a plain `(`, and each name's group number. A regex
 * with named groups allocates a `groups` object on every match; this one does not, and its
 * groups are read by number. Named groups are numbered with the others, in order of their `(`,
 * so the numbers and the matches are the same. Undefined when the pattern is not safe to rewrite:
 * a `\k` (named backreferences need the names), or a scan that disagrees with the regex engine on
 * the groups (the check below), e.g. a group name this scanner does not read.
 */
export function unnameGroups(pattern: string): { source: string; index: Map<string, number> } | undefined {
  const index = new Map<string, number>();
  let source = '';
  let groups = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i];
    if (c === '\\') {
      if (pattern[i + 1] === 'k') return undefined;
      source += pattern.slice(i, i + 2); // an escaped char, in a class or not, is never syntax
      i += 2;
      continue;
    }
    if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') {
      NAMED_GROUP.lastIndex = i;
      const named = NAMED_GROUP.exec(pattern);
      if (named !== null) {
        index.set(named[1], ++groups);
        source += '(';
        i += named[0].length;
        continue;
      }
      if (pattern[i + 1] !== '?') groups++; // `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!` capture nothing
    }
    source += c;
    i++;
  }
  // The engine's view: as many groups in both patterns, and the names in the same order.
  try {
    if (groupCount(source) !== groups || groupCount(pattern) !== groups || groupNames(pattern).join() !== [...index.keys()].join()) return undefined;
  } catch {
    return undefined;
  }
  return { source, index };
}

/** Compiles `pattern` once; throws ConfigError naming `fetcher.file.regex` when it is unusable. */
export function regexAnalyzer(pattern: string | undefined, opts: RegexOptions = {}): Analyzer {
  if (pattern === undefined || pattern === '') {
    throw new ConfigError([{ key: REGEX_KEY, message: 'required when the analyzer chain uses "regex"' }]);
  }
  const problem = logRegexProblem(pattern);
  if (problem !== undefined) throw new ConfigError([{ key: REGEX_KEY, message: problem }]);
  const names = groupNames(pattern);
  // Matches as arrays indexed by group number: the pattern's own groups once they are numbered,
  // else (a pattern unnameGroups leaves alone) the names' values from `groups`, in name order.
  const unnamed = unnameGroups(pattern);
  const re = new RegExp(unnamed?.source ?? pattern);
  const match: (line: string) => ReadonlyArray<string | undefined> | null =
    unnamed !== undefined
      ? (line) => re.exec(line)
      : (line) => {
          const g = re.exec(line)?.groups;
          return g === undefined ? null : [undefined, ...names.map((n) => g[n])];
        };
  const at = (name: string): number => unnamed?.index.get(name) ?? names.indexOf(name) + 1;
  const encoding = opts.bodyEncoding ?? 'raw';
  const ts = at('ts');
  const method = at('method');
  const url = at('url');
  const body = names.includes('body') ? at('body') : undefined;
  const headers = names.filter((n) => n.startsWith('header_') && n.length > 7).map((n) => ({ group: at(n), name: n.slice(7).toLowerCase().replace(/_/g, '-') }));
  const extra = opts.withFields === false ? [] : names.filter((n) => n !== 'ts' && n !== 'method' && n !== 'url' && n !== 'body').map((n) => ({ group: at(n), name: n }));

  return (line) => {
    const m = match(line);
    if (m === null) return undefined;
    const u = m[url];
    if (u === undefined || u === '') return undefined;
    const t = m[ts];
    const mt = m[method];
    const rec: ParsedRecord = {
      ts: t === undefined ? NaN : parseTimeString(t),
      method: mt === undefined || mt === '' ? 'GET' : upperCase(mt),
      url: u,
    };
    // Indexed loops: a for-of costs an iterator per line.
    for (let k = 0; k < headers.length; k++) {
      const v = m[headers[k].group];
      if (!isNone(v)) (rec.headers ??= {})[headers[k].name] = v;
    }
    if (body !== undefined) {
      const b = m[body];
      if (!isNone(b)) rec.body = decodeBody(b, encoding);
    }
    for (let k = 0; k < extra.length; k++) {
      const v = m[extra[k].group];
      if (v !== undefined) (rec.fields ??= {})[extra[k].name] = v;
    }
    return rec;
  };
}
