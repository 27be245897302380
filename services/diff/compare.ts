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
  walk(left, right, [], opts, out);
  return out;
}

/**
 * The walk keeps the keys and indices from the root in `trail` and builds path strings only for
 * a difference: equal subtrees (most of a response) cost no string work.
 */
export type Trail = Array<string | number>;

/** The differences between `left` and `right`, two values found at `trail` from the root, added to `out`. */
export function diffAt(left: Json, right: Json, trail: Trail, opts: CompareOptions, out: Difference[]): void {
  walk(left, right, trail, opts, out);
}

function emit(out: Difference[], trail: Trail, kind: DiffKind): void {
  let path = '';
  let at = '';
  for (const k of trail) {
    if (typeof k === 'number') {
      path += '[*]';
      at += `[${k}]`;
    } else {
      path = childPath(path, k);
      at = childPath(at, k);
    }
  }
  out.push({ path, at, kind });
}

function walk(a: Json, b: Json, trail: Trail, opts: CompareOptions, out: Difference[]): void {
  if (a === b) return;
  const ta = typeOf(a);
  if (ta !== typeOf(b)) return emit(out, trail, 'type');
  if (ta === 'number') {
    if (!numbersEqual(a as number, b as number, opts.numberTolerance)) emit(out, trail, 'primitive');
    return;
  }
  if (ta === 'array') return walkArray(a as Json[], b as Json[], trail, opts, out);
  if (ta !== 'object') return emit(out, trail, 'primitive');
  const ao = a as Record<string, Json>;
  const bo = b as Record<string, Json>;
  for (const k in ao) {
    trail.push(k);
    if (!Object.hasOwn(bo, k)) emit(out, trail, 'missing');
    else walk(ao[k], bo[k], trail, opts, out);
    trail.pop();
  }
  for (const k in bo) {
    if (Object.hasOwn(ao, k)) continue;
    trail.push(k);
    emit(out, trail, 'extra');
    trail.pop();
  }
}

function walkArray(a: Json[], b: Json[], trail: Trail, opts: CompareOptions, out: Difference[]): void {
  if (a.length !== b.length) return emit(out, trail, 'size');
  // As multisets: each side in one canonical order, so equal multisets compare equal and
  // unequal ones pair their elements deterministically.
  const ignore = opts.arrayOrder === 'ignore';
  const left = ignore ? sortCanonical(a) : a;
  const right = ignore ? sortCanonical(b) : b;
  const before = out.length;
  for (let i = 0; i < left.length; i++) {
    trail.push(i);
    walk(left[i], right[i], trail, opts, out);
    trail.pop();
  }
  // Elements that differ only by position: one `order` difference instead of theirs (computed
  // only when some element differed, so equal arrays cost one walk).
  if (!ignore && out.length > before && opts.numberTolerance === 0 && sameMultiset(a, b)) {
    out.length = before;
    emit(out, trail, 'order');
  }
}

function sameMultiset(a: Json[], b: Json[]): boolean {
  const ca = a.map(canonical).sort();
  const cb = b.map(canonical).sort();
  return ca.every((c, i) => c === cb[i]);
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
