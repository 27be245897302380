/**
 * The differences between two JSON bodies that differ only inside scalar values, found by
 * walking both texts side by side instead of parsing the right one and walking two trees.
 *
 * Two builds of a service mostly answer the same bytes apart from a few values (a timestamp, a
 * request id, a changed price). Parsing all three bodies of a record and walking two pairs of
 * trees was most of the CPU a record's comparison took (JSON.parse alone ~2/3 of it for 2 KB
 * bodies). Here the left (primary) body, already parsed, is scanned once beside the right one:
 * keys, punctuation and whitespace must be the same bytes; where a scalar value differs, both
 * tokens are parsed alone and compared at their path as the tree walk would (compare.ts `diffAt`).
 *
 * The result is exactly diffTrees' on the parsed bodies, or undefined when that cannot be
 * guaranteed here and the caller parses and walks instead:
 * - anything but a scalar differs (a key, whitespace, structure, an object for a number);
 * - a right token that does not parse alone as JSON (so the right body is valid JSON whenever
 *   this returns: it is the left one with valid values put in place of others);
 * - two differing values inside the same array (the walk may then call it an `order`
 *   difference), or any inside an array when arrays are compared as multisets;
 * - a key on a difference's path that starts with a digit (objects iterate integer-like keys
 *   first, so the walk's order of differences could differ from the text's);
 * - an object on a difference's path with a repeated key (JSON.parse keeps the last one);
 * - more than MAX_FOUND differing values, or nesting deeper than MAX_DEPTH.
 * Pure; not re-entrant (scratch arrays are shared).
 */
import { diffAt, type CompareOptions, type Difference, type Trail } from './compare.js';
import type { Json } from './tree.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;

/** Nesting deeper than this is left to the tree walk. */
const MAX_DEPTH = 128;
/** Differing values beyond this are left to the tree walk (by then it costs about as much). */
const MAX_FOUND = 32;

/** Per open object or array, by depth: reused between calls. */
const isArray = new Uint8Array(MAX_DEPTH);
/** Objects: keys read so far; arrays: index of the current element. */
const count = new Int32Array(MAX_DEPTH);
/** The current key of an object: its bytes between the quotes, and whether it has escapes. */
const keyStart = new Int32Array(MAX_DEPTH);
const keyEnd = new Int32Array(MAX_DEPTH);
const keyEscaped = new Uint8Array(MAX_DEPTH);
/** An array already holding a differing value. */
const marked = new Uint8Array(MAX_DEPTH);
/** An object on a differing value's path: its key count is wanted when it closes. */
const watched = new Uint8Array(MAX_DEPTH);
/** Which object is open at a depth (numbered in opening order), to match counts to paths. */
const serial = new Int32Array(MAX_DEPTH);

interface Found {
  trail: Trail;
  left: Json;
  right: Json;
  /** The serial number of each object on the path, in path order. */
  objects: number[];
}

/** Letters, digits and `+-.`: the bytes of numbers and of true, false and null. */
function scalarByte(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x2d || b === 0x2b || b === 0x2e);
}

/** The end (exclusive) of the scalar token at `at`, or -1 when none starts there or it is unterminated. */
function tokenEnd(buf: Buffer, at: number): number {
  const c = buf[at];
  if (c === QUOTE) {
    for (let i = at + 1; i < buf.length; i++) {
      const b = buf[i];
      if (b === QUOTE) return i + 1;
      if (b === BACKSLASH) i++;
    }
    return -1;
  }
  if (!scalarByte(c)) return -1;
  let i = at;
  while (scalarByte(buf[i])) i++;
  return i;
}

/** A token parsed alone, or undefined when it is not JSON. */
function parseToken(buf: Buffer, start: number, end: number): { value: Json } | undefined {
  try {
    return { value: JSON.parse(buf.toString('utf8', start, end)) as Json };
  } catch {
    return undefined;
  }
}

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));

/**
 * `left`, `right`: the bodies' bytes, UTF-8; `leftValue`: `left` parsed (JSON.parse succeeded on
 * it). Differences are at paths under `root` (`body`), as in a lifted tree.
 */
export function alignedDiff(left: Uint8Array, leftValue: Json, right: Uint8Array, opts: CompareOptions, root = 'body'): Difference[] | undefined {
  const L = asBuffer(left);
  const R = asBuffer(right);
  if (L.length === R.length && L.equals(R)) return [];
  const found: Found[] = [];
  /** Key counts of watched objects as they closed: serial, count, serial, count… */
  const closed: number[] = [];
  const nl = L.length;
  let i = 0;
  let j = 0;
  let depth = 0;
  let opened = 0;
  let expectKey = false;
  while (i < nl) {
    const c = L[i];
    if (c === SPACE || c === LF || c === CR || c === TAB || c === COLON) {
      if (R[j] !== c) return undefined;
      i++;
      j++;
    } else if (c === COMMA) {
      if (R[j] !== c) return undefined;
      if (isArray[depth - 1]) count[depth - 1]++;
      else expectKey = true;
      i++;
      j++;
    } else if (c === LBRACE || c === LBRACKET) {
      if (R[j] !== c || depth === MAX_DEPTH) return undefined;
      isArray[depth] = c === LBRACKET ? 1 : 0;
      count[depth] = 0;
      marked[depth] = 0;
      watched[depth] = 0;
      serial[depth] = opened++;
      depth++;
      expectKey = c === LBRACE;
      i++;
      j++;
    } else if (c === RBRACE || c === RBRACKET) {
      if (R[j] !== c) return undefined;
      depth--;
      if (watched[depth]) closed.push(serial[depth], count[depth]);
      expectKey = false;
      i++;
      j++;
    } else if (expectKey) {
      // A key (left is valid JSON: `c` is its opening quote): the same bytes on both sides.
      if (R[j] !== c) return undefined;
      const start = i + 1;
      let escaped = 0;
      i++;
      j++;
      for (;;) {
        const b = L[i];
        if (R[j] !== b) return undefined;
        i++;
        j++;
        if (b === QUOTE) break;
        if (b === BACKSLASH) {
          escaped = 1;
          if (R[j] !== L[i]) return undefined;
          i++;
          j++;
        }
      }
      keyStart[depth - 1] = start;
      keyEnd[depth - 1] = i - 1;
      keyEscaped[depth - 1] = escaped;
      count[depth - 1]++;
      expectKey = false;
    } else {
      // A scalar value: the same bytes, or a difference at its path.
      const li = i;
      const rj = j;
      let same = false;
      if (c === QUOTE) {
        if (R[j] === QUOTE) {
          i++;
          j++;
          for (;;) {
            const b = L[i];
            if (R[j] !== b) break;
            i++;
            j++;
            if (b === QUOTE) {
              same = true;
              break;
            }
            if (b === BACKSLASH) {
              if (R[j] !== L[i]) break;
              i++;
              j++;
            }
          }
        }
      } else {
        while (scalarByte(L[i]) && R[j] === L[i]) {
          i++;
          j++;
        }
        same = !scalarByte(L[i]) && !scalarByte(R[j]);
      }
      if (same) continue;
      const le = tokenEnd(L, li);
      const re = tokenEnd(R, rj);
      if (le < 0 || re < 0) return undefined;
      const a = parseToken(L, li, le);
      const b = parseToken(R, rj, re);
      if (!a || !b || found.length === MAX_FOUND) return undefined;
      const trail: Trail = [root];
      const objects: number[] = [];
      for (let d = 0; d < depth; d++) {
        if (isArray[d]) {
          if (marked[d] || opts.arrayOrder === 'ignore') return undefined;
          marked[d] = 1;
          trail.push(count[d]);
        } else {
          // Integer-like keys: the object's iteration order is not the text's.
          const first = L[keyStart[d]];
          if (first >= 0x30 && first <= 0x39) return undefined;
          const key = keyEscaped[d] ? parseToken(L, keyStart[d] - 1, keyEnd[d] + 1)?.value : L.toString('utf8', keyStart[d], keyEnd[d]);
          if (typeof key !== 'string') return undefined;
          trail.push(key);
          watched[d] = 1;
          objects.push(serial[d]);
        }
      }
      found.push({ trail, left: a.value, right: b.value, objects });
      i = le;
      j = re;
    }
  }
  if (j !== R.length) return undefined;
  if (found.length > 0 && !distinctKeys(found, closed, leftValue)) return undefined;
  const out: Difference[] = [];
  for (const f of found) diffAt(f.left, f.right, f.trail, opts, out);
  return out;
}

/**
 * Whether each object on each difference's path has as many keys parsed as it had in the text:
 * fewer means a repeated key, whose last value JSON.parse kept.
 */
function distinctKeys(found: readonly Found[], closed: readonly number[], leftValue: Json): boolean {
  const counts = new Map<number, number>();
  for (let k = 0; k < closed.length; k += 2) counts.set(closed[k], closed[k + 1]);
  for (const f of found) {
    let node: Json | undefined = leftValue;
    let o = 0;
    for (let t = 1; t < f.trail.length; t++) {
      const step = f.trail[t];
      if (node === null || typeof node !== 'object') return false;
      if (typeof step === 'number') {
        if (!Array.isArray(node)) return false;
        node = node[step];
      } else {
        if (Array.isArray(node) || Object.keys(node).length !== counts.get(f.objects[o++])) return false;
        node = node[step];
      }
    }
  }
  return true;
}
