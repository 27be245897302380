/**
 * `format = "nginx"`: an nginx `log_format` string compiled into one anchored regex, built once,
 * plus a table saying what each capture group feeds. Per line: one `exec`, then a loop over
 * the table — no parsing of the format, no splitting.
 *
 * Variables (`$name` or `${name}`) become capture groups; the text between them is matched
 * literally. A variable between `"…"` may contain spaces (nginx writes `"` inside as `\x22`),
 * one between `[…]` anything but `]`, any other one no whitespace — except `$time_local` (which
 * has a space before its zone) and `$request` (`METHOD url PROTOCOL`), matched by their shapes.
 * Two variables with nothing between them are told apart by the first one's shape (see SHAPES).
 *
 * What the variables feed:
 *   ts       `$msec` (epoch seconds.ms), else `$time_iso8601`, else `$time_local`
 *   method   `$request_method`, else the method of `$request`, else GET
 *   url      the url of `$request`, else `$request_uri`, else `$uri` + `?$args`
 *   headers  `$http_<name>` → `<name>` with `_` → `-` (`$http_x_user_id` → `x-user-id`);
 *            `$content_type` → `content-type`; `-` (nginx's "no value") sends no header
 *   body     `$request_body`, nginx's `\xHH` escapes undone, then `body_encoding`
 *   fields   every variable under its name, quoted ones unescaped as the combined analyzer
 *            does, plus the combined analyzer's names (`bytes`, `referer`, `user_agent`,
 *            `host` for `$http_host`) so a `hash_field` means the same with either analyzer.
 *
 * Like `combined`, the regex matches a prefix of the line, so fields appended to a format later
 * still parse, and a last quoted field may lack its closing quote (truncated lines).
 */
import { NGINX_COMBINED } from './names.js';
import { ConfigError } from '../../../shared/errors.js';
import { decodeBody, unescapeNginx, type BodyEncoding } from './body.js';
import { capture, quotedValue, unescapeField } from './combined.js';
import { parseClfTime, parseEpoch, parseIsoTime } from './time.js';
import type { Analyzer, ParsedRecord } from './types.js';

export const LOG_FORMAT_KEY = 'fetcher.file.log_format';

export interface NginxOptions {
  /** `fetcher.file.body_encoding` of `$request_body`. */
  bodyEncoding?: BodyEncoding;
  /** false: no `fields` on records (only `hash_field` reads them); default true. */
  withFields?: boolean;
}

// The same sub-patterns as combined.ts, so both read a combined line identically. Each is the
// body of one capture group, captured only when the record reads it (see `capture`).
// A quoted value is two parts, each its own group when read: the text before the first
// backslash, then the rest ('' when the value has no escape, so it needs no unescaping scan).
const QUOTED_HEAD = String.raw`[^"\\]*`;
const QUOTED_REST = String.raw`(?:\\.[^"\\]*)*`;
// `$request` has two groups of its own, always captured: its method and its url.
const REQUEST_QUOTED = String.raw`([A-Z][A-Z0-9_-]*) (\S+)(?: [^"\\]*(?:\\.[^"\\]*)*)?`;
const REQUEST_BARE = String.raw`([A-Z][A-Z0-9_-]*) (\S+)(?: HTTP/[0-9.]+)?`;
const TIME_LOCAL = String.raw`\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?`;
const BRACKETED = String.raw`[^\]]*`;
const TIME_BRACKETED = String.raw`[^\]]+`;
const SINGLE_QUOTED = String.raw`[^']*`;
// No `"` either: nginx writes one inside a value as `\x22`, so a raw one closes a quoted run.
const BARE = String.raw`[^\s"]*`;
/**
 * A variable directly followed by another (`$host$request_uri`, `$uri$is_args$args`): nothing
 * marks the boundary, so it comes from the variable's shape when nginx's values have one, else
 * the first variable takes as little as possible.
 */
const BARE_ADJACENT = String.raw`[^\s"]*?`;
const SHAPES: Record<string, string> = {
  host: String.raw`[^\s/]*`,
  http_host: String.raw`[^\s/]*`,
  server_name: String.raw`[^\s/]*`,
  scheme: String.raw`[A-Za-z]*`,
  uri: String.raw`[^\s?]*`,
  document_uri: String.raw`[^\s?]*`,
  is_args: String.raw`\??`,
  server_port: String.raw`\d*`,
  remote_port: String.raw`\d*`,
};

const VARIABLE = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The combined analyzer's field names, added when the format has the nginx variable. */
const ALIASES: Record<string, string> = { body_bytes_sent: 'bytes', http_referer: 'referer', http_user_agent: 'user_agent', http_host: 'host' };

type Piece = { lit: string } | { name: string };

function tokenize(format: string): Piece[] {
  const out: Piece[] = [];
  let last = 0;
  for (const m of format.matchAll(VARIABLE)) {
    if (m.index > last) out.push({ lit: format.slice(last, m.index) });
    out.push({ name: m[1] ?? m[2] });
    last = m.index + m[0].length;
  }
  if (last < format.length) out.push({ lit: format.slice(last) });
  return out;
}

interface Slot {
  name: string;
  /** Its capture group (the first of two when `split`); 0 when not captured: the record does not read it. */
  group: number;
  /** Between `"…"`: unescaped as a field or header. */
  quoted: boolean;
  /** Captured as QUOTED_HEAD, QUOTED_REST: every quoted variable but `$request`. */
  split: boolean;
}

const isNone = (v: string): boolean => v === '-' || v === '';
const isHeaderVariable = (name: string): boolean => (name.startsWith('http_') && name.length > 5) || name === 'content_type';

/** The value of a slot as logged (escapes not undone): a split one joined back from its two parts. */
function reader(s: Slot): (m: RegExpExecArray) => string {
  const g = s.group;
  return s.split ? (m) => (m[g + 1] === '' ? m[g] : m[g] + m[g + 1]) : (m) => m[g];
}

/** Compiles `format`; throws ConfigError naming `fetcher.file.log_format` when it cannot give a record. */
export function compileNginxFormat(format: string = NGINX_COMBINED, opts: NginxOptions = {}): Analyzer {
  const withFields = opts.withFields ?? true;
  const pieces = tokenize(format);

  // The variables a record reads; without `fields`, the others are matched but not captured.
  const names = new Set(pieces.flatMap((p) => ('name' in p ? [p.name] : [])));
  const first = (...ns: string[]): string | undefined => ns.find((n) => names.has(n));
  const tsName = first('msec', 'time_iso8601', 'time_local');
  const pathName = first('uri', 'document_uri');
  const argsName = first('args', 'query_string');
  // The url comes from $request, else $request_uri, else $uri + $args (see urlOf).
  const urlNames = names.has('request') ? [] : names.has('request_uri') ? ['request_uri'] : [pathName, argsName];
  const read = (name: string): boolean =>
    withFields || name === tsName || name === 'request_method' || name === 'request_body' || urlNames.includes(name) || isHeaderVariable(name);

  const slots: Slot[] = [];
  let source = '^';
  let group = 1;
  let request: { method: number; url: number } | undefined;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    if ('lit' in p) {
      // A closing quote that ends the format may be missing (a truncated last line).
      const last = i === pieces.length - 1 && p.lit === '"' && slots.length > 0 && slots[slots.length - 1].quoted && 'name' in pieces[i - 1];
      source += last ? '(?:"|$)' : escapeRe(p.lit);
      continue;
    }
    const before = i > 0 && 'lit' in pieces[i - 1] ? (pieces[i - 1] as { lit: string }).lit.slice(-1) : '';
    const after = i + 1 < pieces.length && 'lit' in pieces[i + 1] ? (pieces[i + 1] as { lit: string }).lit[0] : '';
    const adjacent = i + 1 < pieces.length && 'name' in pieces[i + 1];
    const quoted = before === '"' && after === '"';
    const captured = read(p.name);
    const slot: Slot = { name: p.name, group: captured ? group : 0, quoted, split: quoted && p.name !== 'request' };
    if (p.name === 'request') {
      // The whole request (a field) in one group, then its method and url in two more.
      source += capture(captured, quoted ? REQUEST_QUOTED : REQUEST_BARE);
      if (captured) group++;
      request = { method: group, url: group + 1 };
      group += 2;
    } else if (slot.split) {
      source += captured ? `(${QUOTED_HEAD})(${QUOTED_REST})` : QUOTED_HEAD + QUOTED_REST;
      if (captured) group += 2;
    } else {
      let pattern: string;
      if (before === '[' && after === ']') pattern = p.name === 'time_local' ? TIME_BRACKETED : BRACKETED;
      else if (before === "'" && after === "'") pattern = SINGLE_QUOTED;
      else if (p.name === 'time_local') pattern = TIME_LOCAL;
      else if (adjacent) pattern = SHAPES[p.name] ?? BARE_ADJACENT;
      else pattern = p.name === 'is_args' ? SHAPES.is_args : BARE;
      source += capture(captured, pattern);
      if (captured) group++;
    }
    slots.push(slot);
  }

  const byName = new Map(slots.map((s) => [s.name, s]));
  const problems: string[] = [];
  const tsSlot = tsName === undefined ? undefined : byName.get(tsName);
  if (tsSlot === undefined) problems.push('needs a time: $time_local, $time_iso8601 or $msec');
  const uriSlot = byName.get('request_uri');
  const pathSlot = pathName === undefined ? undefined : byName.get(pathName);
  const argsSlot = argsName === undefined ? undefined : byName.get(argsName);
  if (request === undefined && uriSlot === undefined && pathSlot === undefined) problems.push('needs a URL: $request, $request_uri or $uri');
  if (problems.length > 0) throw new ConfigError([{ key: LOG_FORMAT_KEY, message: `${problems.join('; ')} (in ${JSON.stringify(format)})` }]);

  const re = new RegExp(source);
  const parseTs = tsName === 'msec' ? parseEpoch : tsName === 'time_iso8601' ? parseIsoTime : parseClfTime;
  const tsOf = reader(tsSlot!);
  const methodSlot = byName.get('request_method');
  const bodySlot = byName.get('request_body');
  const encoding = opts.bodyEncoding ?? 'raw';

  // Fields: every variable, then the aliases the format does not already define.
  const fieldSlots: Slot[] = [...byName.values()];
  for (const s of slots) {
    const alias = ALIASES[s.name];
    if (alias !== undefined && !byName.has(alias)) fieldSlots.push({ ...s, name: alias });
  }
  const headerSlots: Slot[] = [];
  for (const s of byName.values()) {
    if (isHeaderVariable(s.name)) headerSlots.push({ ...s, name: s.name === 'content_type' ? 'content-type' : s.name.slice(5).replace(/_/g, '-') });
  }

  // The fields object as one literal, generated once: every record then has the same shape (one
  // hidden class, monomorphic stores), where a loop of keyed stores would go megamorphic. Names
  // are [A-Za-z0-9_] and group numbers integers, and both are JSON-quoted/numeric in the source.
  // Only built with `withFields`, when every slot is captured.
  const fieldValue = (s: Slot): string => (s.split ? `quoted(m[${s.group}], m[${s.group + 1}])` : s.quoted ? `unescape(m[${s.group}])` : `m[${s.group}]`);
  const makeFields = withFields
    ? (new Function('unescape', 'quoted', `return (m) => ({ ${fieldSlots.map((s) => `${JSON.stringify(s.name)}: ${fieldValue(s)}`).join(', ')} });`)(
        unescapeField,
        quotedValue,
      ) as (m: RegExpExecArray) => Record<string, string>)
    : undefined;
  // Headers likewise, each stored by a literal name; `-` or empty (as logged) is no header. A
  // split value with a non-empty rest has a backslash, so it is neither.
  const makeHeaders = new Function(
    'unescape',
    `return (m) => { let h, v; ${headerSlots
      .map((s) => {
        const set = (v: string): string => `(h ??= {})[${JSON.stringify(s.name)}] = ${v};`;
        if (s.split) return `v = m[${s.group}]; if (m[${s.group + 1}] !== '') ${set(`unescape(v + m[${s.group + 1}])`)} else if (v !== '-' && v !== '') ${set('v')}`;
        return `v = m[${s.group}]; if (v !== '-' && v !== '') ${set(s.quoted ? 'unescape(v)' : 'v')}`;
      })
      .join(' ')} return h; };`,
  )(unescapeField) as (m: RegExpExecArray) => Record<string, string> | undefined;

  const urlOf = ((): ((m: RegExpExecArray) => string | undefined) => {
    if (request !== undefined) {
      const g = request.url;
      return (m) => m[g];
    }
    if (uriSlot !== undefined) {
      const uri = reader(uriSlot);
      return (m) => {
        const u = uri(m);
        return isNone(u) ? undefined : u;
      };
    }
    const path = reader(pathSlot!);
    const args = argsSlot === undefined ? undefined : reader(argsSlot);
    return (m) => {
      const p = path(m);
      if (isNone(p)) return undefined;
      const a = args === undefined ? '' : args(m);
      return isNone(a) ? p : `${p}?${a}`;
    };
  })();
  const methodOf: (m: RegExpExecArray) => string =
    methodSlot !== undefined ? reader(methodSlot) : request !== undefined ? ((g) => (m: RegExpExecArray) => m[g])(request.method) : () => 'GET';
  const bodyOf = bodySlot === undefined ? undefined : reader(bodySlot);

  return (line) => {
    const m = re.exec(line);
    if (m === null) return undefined;
    const url = urlOf(m);
    if (url === undefined) return undefined;
    const rec: ParsedRecord = { ts: parseTs(tsOf(m)), method: methodOf(m), url };
    if (makeFields !== undefined) rec.fields = makeFields(m);
    const headers = makeHeaders(m);
    if (headers !== undefined) rec.headers = headers;
    if (bodyOf !== undefined) {
      const raw = bodyOf(m);
      if (!isNone(raw)) {
        const body = unescapeNginx(raw);
        if (encoding === 'raw') rec.body = body;
        else if (typeof body === 'string') rec.body = decodeBody(body, encoding);
        else throw new Error('body is not valid base64'); // base64 text is ASCII: it unescapes to a string
      }
    }
    return rec;
  };
}
