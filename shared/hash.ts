/**
 * Routing hashes. FNV-1a (32-bit) as in the original Havok, and rendezvous (highest random
 * weight) hashing on top of it, so a replayer joining or leaving moves only the keys it wins or
 * held: ~1/N of them, with no ring to rebuild.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over the UTF-16 code units of `s` (ASCII keys hash as their bytes would). */
export function fnv1a(s: string, seed = FNV_OFFSET): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h;
}

/** Final avalanche (murmur3 fmix32): FNV-1a alone mixes the last characters poorly. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A well-mixed 32-bit hash of a key (FNV-1a + fmix32), uniform in [0, 2^32): for sampling by key. */
export function mixedHash(s: string): number {
  return mix(fnv1a(s));
}

/**
 * The member that owns `key`: the one whose (member, key) weight is highest. Members must be
 * non-empty; the answer depends only on the set, not its order.
 */
export function shardFor(key: string, members: readonly string[]): string {
  const keyHash = fnv1a(key);
  let best = members[0];
  let bestWeight = -1;
  for (const m of members) {
    const w = mix(fnv1a(m, keyHash));
    if (w > bestWeight || (w === bestWeight && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}
