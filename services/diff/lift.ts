/**
 * Lifting a response into one tree, as Diffy's HttpLifter: `status`, `headers` (names
 * lower-cased, each name's values sorted and joined, ignored names left out) and the decoded
 * `body` (body.ts). Trees are then compared by compare.ts. Pure.
 */
import { decodeBody, type BodyFlag, type BodyKind } from './body.js';
import type { Json, JsonObject } from './tree.js';

/** A response as the sender collected it. */
export interface RawResponse {
  status: number;
  /** Header name and value pairs, as received (names in any case, repeated names allowed). */
  headers: ReadonlyArray<readonly [string, string]>;
  /** Body bytes received, at most max_body_bytes. */
  body: Uint8Array;
  /** The body had more bytes than `body` holds. */
  cut: boolean;
}

export interface LiftOptions {
  /** Lower-cased header names not compared. */
  ignoreHeaders: ReadonlySet<string>;
  maxBodyBytes: number;
}

export interface Lifted {
  tree: JsonObject & { status: number; headers: Record<string, string>; body: Json };
  bodyKind: BodyKind;
  flags: BodyFlag[];
}

/** A response's status and headers as lifted, and the headers its body is decoded by. */
export interface LiftedHead {
  status: number;
  headers: Record<string, string>;
  contentType: string | undefined;
  contentEncoding: string | undefined;
}

export function liftResponse(r: RawResponse, opts: LiftOptions): Lifted {
  const h = liftHead(r, opts);
  const { body, kind, flags } = decodeBody(r.body, h.contentType, h.contentEncoding, opts.maxBodyBytes, r.cut);
  return { tree: { status: h.status, headers: h.headers, body }, bodyKind: kind, flags };
}

/** Status and headers lifted; the body left to decode (body.ts). */
export function liftHead(r: RawResponse, opts: LiftOptions): LiftedHead {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of r.headers) {
    const key = name.toLowerCase();
    const values = grouped.get(key);
    if (values) values.push(value);
    else grouped.set(key, [value]);
  }
  const headers: Record<string, string> = {};
  // Sorted names: a tree's key order never depends on the order the server wrote its headers.
  for (const name of [...grouped.keys()].sort()) {
    if (!opts.ignoreHeaders.has(name)) headers[name] = grouped.get(name)!.sort().join(', ');
  }
  return { status: r.status, headers, contentType: grouped.get('content-type')?.[0], contentEncoding: grouped.get('content-encoding')?.[0] };
}
