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
// irregexp does not backtrack per character. Captured in two groups: the text before the first
// backslash, then the rest ('' in the usual case of no escape at all). The regex has found the
// first backslash anyway, so no second scan of the value is needed to know it has none.
const QUOTED = String.raw`"([^"\\]*)((?:\\.[^"\\]*)*)"`;
// Same, but the closing quote may be missing at the end of a truncated line (real logs have them).
const QUOTED_OPEN_END = String.raw`"([^"\\]*)((?:\\.[^"\\]*)*)(?:"|$)`;

/** `(p)` for a group that is read, `(?:p)` for one that is not: each capture costs a substring per line. */
export const capture = (read: boolean, p: string): string => (read ? `(${p})` : `(?:${p})`);

/**
 * %h %l %u [%t] "METHOD url[ protocol]" status bytes, then (combined) "referer" "user agent".
 * A request of "-" (a connection closed before a request line) or a binary one (TLS on a plain
 * port) fails the METHOD group: not a record. With `fields` false, %h %u %>s %b are matched but
 * not captured: the same lines match, with fewer allocations. Groups, in order: (%h %u when
 * `fields`) %t METHOD url (%>s %b when `fields`) (referer ×2, user agent ×2 when `combined`).
 */
function clfSource(fields: boolean, combined: boolean): string {
  const head =
    String.raw`^${capture(fields, String.raw`\S+`)} \S+ ${capture(fields, String.raw`\S+`)} \[([^\]]+)\] ` +
    String.raw`"([A-Z][A-Z0-9_-]*) (\S+)(?: [^"\\]*(?:\\.[^"\\]*)*)?" ${capture(fields, String.raw`\d{3}`)} ${capture(fields, String.raw`\d+|-`)}`;
  return combined ? `${head} ${QUOTED} ${QUOTED_OPEN_END}` : head;
}

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

/** A quoted field from its two groups (see QUOTED): unescaped only when it has a backslash. */
export const quotedValue = (head: string, rest: string): string => (rest === '' ? head : unescapeField(head + rest));

/**
 * The common or combined analyzer. `withFields` false leaves out `fields` (only `hash_field`
 * reads them): one object less per line, and a regex that captures only what the record needs.
 */
function clfAnalyzer(withFields: boolean, combined: boolean): Analyzer {
  const re = new RegExp(clfSource(withFields, combined));
  // Group numbers (see clfSource): %h and %u come first when captured, %>s and %b after the url.
  const t = withFields ? 3 : 1;
  const q = withFields ? 8 : 4; // referer's first group; the user agent's is q + 2
  if (!combined) {
    return (line) => {
      const m = re.exec(line);
      if (m === null) return undefined;
      const rec: ParsedRecord = { ts: parseClfTime(m[t]), method: m[t + 1], url: m[t + 2] };
      if (withFields) rec.fields = { remote_addr: m[1], remote_user: m[2], status: m[6], bytes: m[7] };
      return rec;
    };
  }
  return (line) => {
    const m = re.exec(line);
    if (m === null) return undefined;
    const referer = quotedValue(m[q], m[q + 1]);
    const userAgent = quotedValue(m[q + 2], m[q + 3]);
    const rec: ParsedRecord = { ts: parseClfTime(m[t]), method: m[t + 1], url: m[t + 2] };
    if (withFields) rec.fields = { remote_addr: m[1], remote_user: m[2], status: m[6], bytes: m[7], referer, user_agent: userAgent };
    // "-" (or nothing) means the client sent no such header; replaying one would change the request.
    const hasRef = referer !== '-' && referer !== '';
    const hasUa = userAgent !== '-' && userAgent !== '';
    if (hasRef && hasUa) rec.headers = { 'user-agent': userAgent, referer };
    else if (hasUa) rec.headers = { 'user-agent': userAgent };
    else if (hasRef) rec.headers = { referer };
    return rec;
  };
}

/** NCSA common log format; `withFields` as for clfAnalyzer. */
export function commonAnalyzer(withFields = true): Analyzer {
  return clfAnalyzer(withFields, false);
}
export const common: Analyzer = commonAnalyzer();

/** NCSA combined log format (Apache `combined`, nginx's default `log_format`). */
export const combined: Analyzer = combinedAnalyzer();

/** `combined`; `withFields` as for clfAnalyzer. */
export function combinedAnalyzer(withFields = true): Analyzer {
  return clfAnalyzer(withFields, true);
}
