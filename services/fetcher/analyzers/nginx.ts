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
import { NGINX_COMBINED } from '../../../shared/config.js';
import { ConfigError } from '../../../shared/errors.js';
import { decodeBody, unescapeNginx, type BodyEncoding } from './body.js';
import { unescapeField } from './combined.js';
import { parseClfTime, parseEpoch, parseIsoTime } from './time.js';
import type { Analyzer, ParsedRecord } from './types.js';

export const LOG_FORMAT_KEY = 'fetcher.file.log_format';

export interface NginxOptions {
  /** `fetcher.file.body_encoding` of `$request_body`. */
  bodyEncoding?: BodyEncoding;
  /** false: no `fields` on records (only `hash_field` reads them); default true. */
  withFields?: boolean;
}

// The same sub-patterns as combined.ts, so both read a combined line identically.
const QUOTED = String.raw`([^"\\]*(?:\\.[^"\\]*)*)`;
const REQUEST_QUOTED = String.raw`(([A-Z][A-Z0-9_-]*) (\S+)(?: [^"\\]*(?:\\.[^"\\]*)*)?)`;
const REQUEST_BARE = String.raw`(([A-Z][A-Z0-9_-]*) (\S+)(?: HTTP/[0-9.]+)?)`;
const TIME_LOCAL = String.raw`(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?)`;
const BRACKETED = String.raw`([^\]]*)`;
const TIME_BRACKETED = String.raw`([^\]]+)`;
const SINGLE_QUOTED = String.raw`([^']*)`;
// No `"` either: nginx writes one inside a value as `\x22`, so a raw one closes a quoted run.
const BARE = String.raw`([^\s"]*)`;
/**
 * A variable directly followed by another (`$host$request_uri`, `$uri$is_args$args`): nothing
 * marks the boundary, so it comes from the variable's shape when nginx's values have one, else
 * the first variable takes as little as possible.
 */
const BARE_ADJACENT = String.raw`([^\s"]*?)`;
const SHAPES: Record<string, string> = {
  host: String.raw`([^\s/]*)`,
  http_host: String.raw`([^\s/]*)`,
  server_name: String.raw`([^\s/]*)`,
  scheme: String.raw`([A-Za-z]*)`,
  uri: String.raw`([^\s?]*)`,
  document_uri: String.raw`([^\s?]*)`,
  is_args: String.raw`(\??)`,
  server_port: String.raw`(\d*)`,
  remote_port: String.raw`(\d*)`,
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
  group: number;
  quoted: boolean;
}

const isNone = (v: string): boolean => v === '-' || v === '';

/** Compiles `format`; throws ConfigError naming `fetcher.file.log_format` when it cannot give a record. */
export function compileNginxFormat(format: string = NGINX_COMBINED, opts: NginxOptions = {}): Analyzer {
  const withFields = opts.withFields ?? true;
  const pieces = tokenize(format);
  const slots: Slot[] = [];
  let source = '^';
  let group = 1;
  let request: Slot | undefined;
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
    const slot: Slot = { name: p.name, group, quoted };
    let pattern: string;
    if (p.name === 'request') {
      pattern = quoted ? REQUEST_QUOTED : REQUEST_BARE;
      request = slot;
    } else if (quoted) pattern = QUOTED;
    else if (before === '[' && after === ']') pattern = p.name === 'time_local' ? TIME_BRACKETED : BRACKETED;
    else if (before === "'" && after === "'") pattern = SINGLE_QUOTED;
    else if (p.name === 'time_local') pattern = TIME_LOCAL;
    else if (adjacent) pattern = SHAPES[p.name] ?? BARE_ADJACENT;
    else pattern = p.name === 'is_args' ? SHAPES.is_args : BARE;
    source += pattern;
    group += p.name === 'request' ? 3 : 1;
    slots.push(slot);
  }

  const byName = new Map(slots.map((s) => [s.name, s]));
  const problems: string[] = [];
  const tsSlot = byName.get('msec') ?? byName.get('time_iso8601') ?? byName.get('time_local');
  if (tsSlot === undefined) problems.push('needs a time: $time_local, $time_iso8601 or $msec');
  const uriSlot = byName.get('request_uri');
  const pathSlot = byName.get('uri') ?? byName.get('document_uri');
  const argsSlot = byName.get('args') ?? byName.get('query_string');
  if (request === undefined && uriSlot === undefined && pathSlot === undefined) problems.push('needs a URL: $request, $request_uri or $uri');
  if (problems.length > 0) throw new ConfigError([{ key: LOG_FORMAT_KEY, message: `${problems.join('; ')} (in ${JSON.stringify(format)})` }]);

  const re = new RegExp(source);
  const parseTs = tsSlot!.name === 'msec' ? parseEpoch : tsSlot!.name === 'time_iso8601' ? parseIsoTime : parseClfTime;
  const tsGroup = tsSlot!.group;
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
    if (s.name.startsWith('http_') && s.name.length > 5) headerSlots.push({ ...s, name: s.name.slice(5).replace(/_/g, '-') });
    else if (s.name === 'content_type') headerSlots.push({ ...s, name: 'content-type' });
  }

  // The fields object as one literal, generated once: every record then has the same shape (one
  // hidden class, monomorphic stores), where a loop of keyed stores would go megamorphic. Names
  // are [A-Za-z0-9_] and group numbers integers, and both are JSON-quoted/numeric in the source.
  const makeFields = new Function(
    'unescape',
    `return (m) => ({ ${fieldSlots.map((s) => `${JSON.stringify(s.name)}: ${s.quoted ? `unescape(m[${s.group}])` : `m[${s.group}]`}`).join(', ')} });`,
  )(unescapeField) as (m: RegExpExecArray) => Record<string, string>;
  // Headers likewise, each stored by a literal name; `-` or empty is no header.
  const makeHeaders = new Function(
    'unescape',
    `return (m) => { let h, v; ${headerSlots
      .map((s) => `v = m[${s.group}]; if (v !== '-' && v !== '') (h ??= {})[${JSON.stringify(s.name)}] = ${s.quoted ? 'unescape(v)' : 'v'};`)
      .join(' ')} return h; };`,
  )(unescapeField) as (m: RegExpExecArray) => Record<string, string> | undefined;

  const urlOf = (m: RegExpExecArray): string | undefined => {
    if (request !== undefined) return m[request.group + 2];
    if (uriSlot !== undefined) {
      const u = m[uriSlot.group];
      return isNone(u) ? undefined : u;
    }
    const path = m[pathSlot!.group];
    if (isNone(path)) return undefined;
    const args = argsSlot === undefined ? '' : m[argsSlot.group];
    return isNone(args) ? path : `${path}?${args}`;
  };

  return (line) => {
    const m = re.exec(line);
    if (m === null) return undefined;
    const url = urlOf(m);
    if (url === undefined) return undefined;
    const rec: ParsedRecord = {
      ts: parseTs(m[tsGroup]),
      method: methodSlot !== undefined ? m[methodSlot.group] : request !== undefined ? m[request.group + 1] : 'GET',
      url,
    };
    if (withFields) rec.fields = makeFields(m);
    const headers = makeHeaders(m);
    if (headers !== undefined) rec.headers = headers;
    if (bodySlot !== undefined) {
      const raw = m[bodySlot.group];
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
