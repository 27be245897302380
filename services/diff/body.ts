/**
 * A response body as a comparable value: decoded (gzip, deflate, br), cut at `max_body_bytes`,
 * then JSON (compared field by field), text (an array of lines) or bytes (one summary string).
 * Never throws: whatever is odd about a body is named in `flags` and counted by the caller.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { brotliDecompressSync, constants, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { Json } from './tree.js';

/** Why a body was not compared as its content type says, or not whole. */
export const BODY_FLAGS = ['truncated', 'non_utf8', 'not_json', 'decode_error', 'unknown_encoding'] as const;
export type BodyFlag = (typeof BODY_FLAGS)[number];

/** How the body is held: parsed JSON, an array of lines, a bytes summary, or null (empty). */
export type BodyKind = 'json' | 'text' | 'bytes' | 'empty';

export interface DecodedBody {
  body: Json;
  kind: BodyKind;
  flags: BodyFlag[];
}


/**
 * A body its content type says is JSON, whole and valid UTF-8: its decoded bytes, not parsed yet
 * (parseJson parses it; record.ts first tries to compare it without parsing, aligned.ts).
 */
export interface JsonBytes {
  json: Uint8Array;
  flags: BodyFlag[];
}

/**
 * `raw`: the body bytes as received (at most max_body_bytes of them: `cut` says the response had
 * more). `contentType`, `contentEncoding`: the response's header values, if any.
 */
export function decodeBody(raw: Uint8Array, contentType: string | undefined, contentEncoding: string | undefined, maxBytes: number, cut = false): DecodedBody {
  const d = decodeBytes(raw, contentType, contentEncoding, maxBytes, cut);
  return 'json' in d ? parseJson(d) : d;
}

/** decodeBody up to the JSON parse: a body to parse as JSON comes back as its bytes. */
export function decodeBytes(raw: Uint8Array, contentType: string | undefined, contentEncoding: string | undefined, maxBytes: number, cut = false): DecodedBody | JsonBytes {
  const flags: BodyFlag[] = cut ? ['truncated'] : [];
  if (raw.length === 0) return { body: null, kind: 'empty', flags };
  let bytes = decompress(raw, (contentEncoding ?? '').trim().toLowerCase(), maxBytes, cut, flags);
  if (bytes === undefined) return { body: bytesSummary(raw), kind: 'bytes', flags };
  if (bytes.length > maxBytes) {
    bytes = bytes.subarray(0, maxBytes);
    if (!flags.includes('truncated')) flags.push('truncated');
  }
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const json = type === 'application/json' || type.endsWith('+json');
  if (!json && !isText(type)) return { body: bytesSummary(bytes), kind: 'bytes', flags };
  // A text cut at max_body_bytes may end inside a character: checked without its last 3 bytes.
  const checked = flags.includes('truncated') ? bytes.subarray(0, Math.max(0, bytes.length - 3)) : bytes;
  if (!isUtf8(checked)) {
    flags.push('non_utf8');
    return { body: bytesSummary(bytes), kind: 'bytes', flags };
  }
  // A JSON body cut short is not JSON any more: compared as text (it is counted as truncated).
  if (json && !flags.includes('truncated')) return { json: bytes, flags };
  return { body: utf8(bytes).split(/\r?\n/), kind: 'text', flags };
}

/** A JSON body parsed; one that does not parse is counted not_json and compared as text. */
export function parseJson(b: JsonBytes): DecodedBody {
  const text = utf8(b.json);
  try {
    return { body: JSON.parse(text) as Json, kind: 'json', flags: b.flags };
  } catch {
    return { body: text.split(/\r?\n/), kind: 'text', flags: [...b.flags, 'not_json'] };
  }
}

const utf8 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');

function isText(type: string): boolean {
  return type.startsWith('text/') || type.endsWith('+xml') || type === 'application/xml' || type === 'application/javascript' || type === 'application/x-www-form-urlencoded';
}

/** The decoded bytes, or undefined when they cannot be had (the raw bytes are compared instead). */
function decompress(raw: Uint8Array, encoding: string, maxBytes: number, cut: boolean, flags: BodyFlag[]): Uint8Array | undefined {
  if (encoding === '' || encoding === 'identity') return raw;
  // A body cut at max_body_bytes is a cut stream: flush what it holds instead of failing on it.
  const opts = { maxOutputLength: maxBytes, finishFlush: cut ? constants.Z_SYNC_FLUSH : constants.Z_FINISH };
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(raw, opts);
    if (encoding === 'deflate') {
      try {
        return inflateSync(raw, opts);
      } catch (err) {
        if (tooLarge(err)) throw err;
        // Some servers send raw deflate without the zlib wrapper.
        return inflateRawSync(raw, opts);
      }
    }
    if (encoding === 'br') return brotliDecompressSync(raw, { maxOutputLength: maxBytes, finishFlush: cut ? constants.BROTLI_OPERATION_FLUSH : constants.BROTLI_OPERATION_FINISH });
  } catch (err) {
    // Decoded, it is more than max_body_bytes: zlib's sync API gives no part of it, so the
    // encoded bytes are compared (and counted as truncated).
    flags.push(tooLarge(err) ? 'truncated' : 'decode_error');
    return undefined;
  }
  flags.push('unknown_encoding');
  return undefined;
}

const tooLarge = (err: unknown): boolean => (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';

/** Bytes compared as one value: their length and digest. */
export function bytesSummary(bytes: Uint8Array): string {
  return `${bytes.length} bytes sha1:${createHash('sha1').update(bytes).digest('hex').slice(0, 16)}`;
}
