/**
 * Reading a POST body within its limits: the declared length is checked before a byte is read
 * (a 100 MB body is refused at once, not buffered), every chunk is taken from the byte budget as
 * it arrives (chunked bodies have no declared length), and a gzip body is inflated with its
 * output capped, so a small gzip cannot expand past `max_body_bytes` either.
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { ByteBudget } from './budget.js';
import { IngestError } from './errors.js';

const inflate = promisify(gunzip);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Content types a body of JSON lines may be sent as; absent is accepted too. */
const JSON_LINES_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/json', 'text/plain', 'application/octet-stream']);

export type Encoding = 'identity' | 'gzip';

/** 415 for a content type or encoding the gateway cannot decode. Pure. */
export function bodyEncoding(contentType: string | undefined, contentEncoding: string | undefined): Encoding {
  const type = contentType?.split(';')[0].trim().toLowerCase();
  if (type && !JSON_LINES_TYPES.has(type)) throw new IngestError(415, `content-type ${type} is not JSON lines (send application/x-ndjson)`);
  const enc = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return 'identity';
  if (enc === 'gzip' || enc === 'x-gzip') return 'gzip';
  throw new IngestError(415, `content-encoding ${enc} is not supported (gzip or none)`);
}

export interface ReadLimits {
  maxBytes: number;
  budget: ByteBudget;
  /** Called with each size taken from the budget, so the caller gives them all back. */
  onTaken(n: number): void;
}

/** Reads the raw body (as sent), chunk by chunk against the limits. */
export async function readRaw(stream: Readable, declared: number | undefined, lim: ReadLimits): Promise<Buffer> {
  if (declared !== undefined && declared > lim.maxBytes) throw new IngestError(413, `body of ${declared} bytes is over max_body_bytes (${lim.maxBytes})`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > lim.maxBytes) throw new IngestError(413, `body is over max_body_bytes (${lim.maxBytes})`);
    if (!lim.budget.take(chunk.length)) throw new IngestError(503, 'the gateway is at its in-flight byte budget');
    lim.onTaken(chunk.length);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/** The body's text: inflated (capped at maxBytes, budgeted) when gzip, then strict UTF-8. */
export async function decodeBody(raw: Buffer, encoding: Encoding, lim: ReadLimits): Promise<string> {
  let bytes = raw;
  if (encoding === 'gzip') {
    try {
      bytes = await inflate(raw, { maxOutputLength: lim.maxBytes });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw new IngestError(413, `body inflates to over max_body_bytes (${lim.maxBytes})`, { cause: err });
      throw new IngestError(400, `body is not valid gzip: ${(err as Error).message}`, { cause: err });
    }
    if (!lim.budget.take(bytes.length)) throw new IngestError(503, 'the gateway is at its in-flight byte budget');
    lim.onTaken(bytes.length);
  }
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new IngestError(400, 'body is not UTF-8 text', { cause: err });
  }
}
