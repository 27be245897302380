/**
 * Differences between two lifted trees, as Diffy's kinds: `primitive` (same type, other value),
 * `missing` (a key only the left has), `extra` (a key only the right has), `type` (other JSON
 * types), `size` (arrays of other lengths), `order` (the same elements in another order). Each
 * difference has a field path with array indices folded (`body.items[*].price`, the key its
 * counts are kept under) and the concrete one (`body.items[3].price`, for examples). Pure.
 */
import { canonical, childPath, typeOf, type Json } from './tree.js';

export const DIFF_KINDS = ['primitive', 'missing', 'extra', 'type', 'size', 'order'] as const;
export type DiffKind = (typeof DIFF_KINDS)[number];

export interface Difference {
  /** Field path, array indices as `[*]`. */
  path: string;
  /** Concrete path, array indices as numbers. */
  at: string;
  kind: DiffKind;
}

export interface CompareOptions {
  /** `ignore`: arrays compared as multisets, as Diffy's lifter does. */
  arrayOrder: 'strict' | 'ignore';
  /** Numbers within this relative difference are equal; 0 = exact. */
  numberTolerance: number;
}

export const STRICT: CompareOptions = { arrayOrder: 'strict', numberTolerance: 0 };

/** Every difference between `left` and `right`, in a stable order (left's keys first). */
export function diffTrees(left: Json, right: Json, opts: CompareOptions = STRICT): Difference[] {
  const out: Difference[] = [];
  walk(left, right, '', '', opts, out);
  return out;
}

function walk(a: Json, b: Json, path: string, at: string, opts: CompareOptions, out: Difference[]): void {
  if (a === b) return;
  const ta = typeOf(a);
  if (ta !== typeOf(b)) {
    out.push({ path, at, kind: 'type' });
    return;
  }
  if (ta === 'number') {
    if (!numbersEqual(a as number, b as number, opts.numberTolerance)) out.push({ path, at, kind: 'primitive' });
    return;
  }
  if (ta === 'array') return walkArray(a as Json[], b as Json[], path, at, opts, out);
  if (ta !== 'object') {
    out.push({ path, at, kind: 'primitive' });
    return;
  }
  const ao = a as Record<string, Json>;
  const bo = b as Record<string, Json>;
  for (const k of Object.keys(ao)) {
    const p = childPath(path, k);
    const q = childPath(at, k);
    if (!Object.hasOwn(bo, k)) out.push({ path: p, at: q, kind: 'missing' });
    else walk(ao[k], bo[k], p, q, opts, out);
  }
  for (const k of Object.keys(bo)) if (!Object.hasOwn(ao, k)) out.push({ path: childPath(path, k), at: childPath(at, k), kind: 'extra' });
}

function walkArray(a: Json[], b: Json[], path: string, at: string, opts: CompareOptions, out: Difference[]): void {
  if (a.length !== b.length) {
    out.push({ path, at, kind: 'size' });
    return;
  }
  let left = a;
  let right = b;
  if (opts.arrayOrder === 'ignore') {
    // As multisets: each side in one canonical order, so equal multisets compare equal and
    // unequal ones pair their elements deterministically.
    left = sortCanonical(a);
    right = sortCanonical(b);
  } else if (opts.numberTolerance === 0) {
    const ca = a.map(canonical);
    const cb = b.map(canonical);
    if (ca.every((c, i) => c === cb[i])) return;
    if ([...ca].sort().join('\n') === [...cb].sort().join('\n')) {
      out.push({ path, at, kind: 'order' });
      return;
    }
  }
  const p = `${path}[*]`;
  for (let i = 0; i < left.length; i++) walk(left[i], right[i], p, `${at}[${i}]`, opts, out);
}

function sortCanonical(xs: Json[]): Json[] {
  return xs
    .map((x) => [canonical(x), x] as const)
    .sort((m, n) => (m[0] < n[0] ? -1 : m[0] > n[0] ? 1 : 0))
    .map(([, x]) => x);
}

/** Equal within `tolerance` of the larger magnitude (0 = exact). */
export function numbersEqual(x: number, y: number, tolerance: number): boolean {
  if (x === y) return true;
  return tolerance > 0 && Math.abs(x - y) <= tolerance * Math.max(Math.abs(x), Math.abs(y));
}
