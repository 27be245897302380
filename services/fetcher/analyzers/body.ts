/**
 * Request bodies as logged → bytes to replay. `fetcher.file.body_encoding` says how the body
 * field is written: `raw` (the text itself) or `base64` (bytes, decoded to a Buffer). nginx's
 * own escaping of `$request_body` (`\xHH`, or JSON style with `escape=json`) is undone by
 * `unescapeNginx` before that, whatever the encoding.
 */

export const BODY_ENCODINGS = ['raw', 'base64'] as const;
export type BodyEncoding = (typeof BODY_ENCODINGS)[number];

// Standard or URL-safe alphabet, optional padding, whitespace (line-wrapped base64) allowed.
const BASE64 = /^[A-Za-z0-9+/_\-\s]*={0,2}\s*$/;

/**
 * The body to send for a logged body string. A malformed base64 body throws: the chain reports
 * the line as a parse error with that reason instead of replaying garbage bytes.
 */
export function decodeBody(s: string, encoding: BodyEncoding): string | Uint8Array {
  if (encoding === 'raw') return s;
  if (!BASE64.test(s)) throw new Error('body is not valid base64');
  return Buffer.from(s, 'base64');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const JSON_ESCAPES: Record<string, number> = { '"': 0x22, '\\': 0x5c, '/': 0x2f, b: 8, f: 12, n: 10, r: 13, t: 9 };
const hexVal = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1);

/**
 * nginx's escaping of a logged variable undone: `\xHH` (the default: `"`, `\`, control bytes and
 * every byte ≥ 0x7F, one escape per byte) and `\"`, `\\`, `\n`, `\uXXXX`… (`escape=json`). The
 * bytes are read as UTF-8 when they are valid UTF-8, else returned as bytes. An unknown escape is
 * kept as written.
 */
export function unescapeNginx(s: string): string | Uint8Array {
  if (s.indexOf('\\') < 0) return s;
  const out: number[] = [];
  const pushText = (t: string): void => {
    for (const b of Buffer.from(t, 'utf8')) out.push(b);
  };
  let i = 0;
  let run = 0; // start of the current run of literal text
  const n = s.length;
  while (i < n) {
    if (s.charCodeAt(i) !== 92 /* \ */ || i + 1 >= n) {
      i++;
      continue;
    }
    const c = s[i + 1];
    let bytes: number[] | undefined;
    let len = 2;
    if (c === 'x') {
      const hi = hexVal(s.charCodeAt(i + 2));
      const lo = hexVal(s.charCodeAt(i + 3));
      if (hi >= 0 && lo >= 0) {
        bytes = [hi * 16 + lo];
        len = 4;
      }
    } else if (c === 'u') {
      const unit = (at: number): number => (/^[0-9A-Fa-f]{4}$/.test(s.slice(at, at + 4)) ? parseInt(s.slice(at, at + 4), 16) : -1);
      const u = unit(i + 2);
      if (u >= 0) {
        let text = String.fromCharCode(u);
        len = 6;
        // A surrogate pair is two escapes: join them, or each would become U+FFFD.
        if (u >= 0xd800 && u <= 0xdbff && s.charCodeAt(i + 6) === 92 && s[i + 7] === 'u') {
          const lo = unit(i + 8);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            text += String.fromCharCode(lo);
            len = 12;
          }
        }
        bytes = [...Buffer.from(text, 'utf8')];
      }
    } else if (c in JSON_ESCAPES) {
      bytes = [JSON_ESCAPES[c]];
    }
    if (bytes === undefined) {
      i += 2; // not an escape we know: keep it as text
      continue;
    }
    if (run < i) pushText(s.slice(run, i));
    for (const b of bytes) out.push(b);
    i += len;
    run = i;
  }
  if (run < n) pushText(s.slice(run));
  const buf = Buffer.from(out);
  try {
    return UTF8.decode(buf);
  } catch {
    return buf;
  }
}
