/**
 * Apache/nginx access logs: NCSA `common` and `combined`, one precompiled regex each.
 *
 *   common:   %h %l %u %t "%r" %>s %b
 *   combined: common + "%{Referer}i" "%{User-agent}i"
 *
 * Both match a prefix of the line, so logs with extra fields appended (`%D`, upstream time…)
 * still parse; the flip side is that `common` also accepts a combined line (dropping its
 * referer and user agent), so a chain should try `combined` before `common`.
 */
import { parseClfTime } from './time.js';
import type { Analyzer, ParsedRecord } from './types.js';

// A quoted field with backslash escapes, "unrolled" (no alternation inside the star) so V8's
// irregexp does not backtrack per character.
const QUOTED = String.raw`"([^"\\]*(?:\\.[^"\\]*)*)"`;
// Same, but the closing quote may be missing at the end of a truncated line (real logs have them).
const QUOTED_OPEN_END = String.raw`"([^"\\]*(?:\\.[^"\\]*)*)(?:"|$)`;

// %h %l %u [%t] "METHOD url[ protocol]" status bytes — a request of "-" (a connection closed
// before a request line) or a binary one (TLS on a plain port) fails the METHOD group: not a record.
const HEAD =
  String.raw`^(\S+) (\S+) (\S+) \[([^\]]+)\] "([A-Z][A-Z0-9_-]*) (\S+)(?: [^"\\]*(?:\\.[^"\\]*)*)?" (\d{3}) (\d+|-)`;

const COMMON_RE = new RegExp(HEAD);
const COMBINED_RE = new RegExp(`${HEAD} ${QUOTED} ${QUOTED_OPEN_END}`);

/**
 * Apache writes `"` and `\` inside quoted fields as `\"` and `\\`; nginx writes them as `\x22`
 * and `\x5C`. Only those are undone: other `\xHH` escapes stand for control bytes or single
 * UTF-8 bytes, which would make an invalid header value if decoded one by one.
 */
const ESCAPE = /\\(["\\])|\\x(22|5[cC])/g;
export function unescapeField(s: string): string {
  if (s.indexOf('\\') < 0) return s; // the common case costs one scan and no allocation
  return s.replace(ESCAPE, (_m, ch: string | undefined, hex: string | undefined) =>
    ch ?? String.fromCharCode(parseInt(hex as string, 16)),
  );
}

/**
 * NCSA common log format. `withFields` false leaves out `fields` (only `hash_field` reads them):
 * one object less per line.
 */
export function commonAnalyzer(withFields = true): Analyzer {
  return (line) => {
    const m = COMMON_RE.exec(line);
    if (m === null) return undefined;
    const rec: ParsedRecord = { ts: parseClfTime(m[4]), method: m[5], url: m[6] };
    if (withFields) rec.fields = { remote_addr: m[1], remote_user: m[3], status: m[7], bytes: m[8] };
    return rec;
  };
}
export const common: Analyzer = commonAnalyzer();

/** NCSA combined log format (Apache `combined`, nginx's default `log_format`). */
export const combined: Analyzer = combinedAnalyzer();

/** `combined`; `withFields` as for commonAnalyzer. */
export function combinedAnalyzer(withFields = true): Analyzer {
  return (line) => {
    const m = COMBINED_RE.exec(line);
    if (m === null) return undefined;
    const referer = unescapeField(m[9]);
    const userAgent = unescapeField(m[10]);
    const rec: ParsedRecord = { ts: parseClfTime(m[4]), method: m[5], url: m[6] };
    if (withFields) rec.fields = { remote_addr: m[1], remote_user: m[3], status: m[7], bytes: m[8], referer, user_agent: userAgent };
    // "-" (or nothing) means the client sent no such header; replaying one would change the request.
    const hasRef = referer !== '-' && referer !== '';
    const hasUa = userAgent !== '-' && userAgent !== '';
    if (hasRef && hasUa) rec.headers = { 'user-agent': userAgent, referer };
    else if (hasUa) rec.headers = { 'user-agent': userAgent };
    else if (hasRef) rec.headers = { referer };
    return rec;
  };
}
