/**
 * `format = "regex"`: a user's JS regular expression with named groups, for logs no built-in
 * reads. Groups: `ts` (any form time.ts reads: CLF with or without `[]`, ISO 8601, epoch
 * s/ms/µs/ns), `method`, `url` — all three required — and optionally `body` and
 * `header_<name>` (`header_x_user_id` → header `x-user-id`). Every other group goes to `fields`
 * (for `hash_field`), and so do the header groups under their group name.
 *
 * The pattern is used as written: not anchored (add `^` for speed), no flags. A line it does not
 * match is not this format (undefined), so a regex can sit in a chain with other analyzers.
 */
import { ConfigError } from '../../../shared/errors.js';
import { groupNames, logRegexProblem } from '../../../shared/log-regex.js';
import { decodeBody, type BodyEncoding } from './body.js';
import { parseTime } from './time.js';
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

/** Compiles `pattern` once; throws ConfigError naming `fetcher.file.regex` when it is unusable. */
export function regexAnalyzer(pattern: string | undefined, opts: RegexOptions = {}): Analyzer {
  if (pattern === undefined || pattern === '') {
    throw new ConfigError([{ key: REGEX_KEY, message: 'required when the analyzer chain uses "regex"' }]);
  }
  const problem = logRegexProblem(pattern);
  if (problem !== undefined) throw new ConfigError([{ key: REGEX_KEY, message: problem }]);
  const re = new RegExp(pattern);
  const encoding = opts.bodyEncoding ?? 'raw';
  const names = groupNames(pattern);
  const headers = names.filter((n) => n.startsWith('header_') && n.length > 7).map((n) => [n, n.slice(7).toLowerCase().replace(/_/g, '-')] as const);
  const extra = opts.withFields === false ? [] : names.filter((n) => n !== 'ts' && n !== 'method' && n !== 'url' && n !== 'body');
  const hasBody = names.includes('body');

  return (line) => {
    const g = re.exec(line)?.groups;
    if (g === undefined) return undefined;
    const url = g.url;
    if (url === undefined || url === '') return undefined;
    const method = g.method;
    const rec: ParsedRecord = {
      ts: g.ts === undefined ? NaN : parseTime(g.ts),
      method: method === undefined || method === '' ? 'GET' : method.toUpperCase(),
      url,
    };
    for (const [group, name] of headers) {
      const v = g[group];
      if (!isNone(v)) (rec.headers ??= {})[name] = v;
    }
    if (hasBody && !isNone(g.body)) rec.body = decodeBody(g.body, encoding);
    for (const n of extra) {
      const v = g[n];
      if (v !== undefined) (rec.fields ??= {})[n] = v;
    }
    return rec;
  };
}
