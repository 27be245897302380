/**
 * Requests compared as a multiset of "METHOD url" keys: what a replay sent against what its log
 * holds, whatever the order.
 */
import { combined } from '../../services/fetcher/analyzers/combined.js';

/** How many times each key occurs. */
export function multiset(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/** "METHOD url" of every line of a combined-format log that parses, in line order. */
export function combinedKeys(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const r = combined(line);
    if (r) out.push(`${r.method} ${r.url}`);
  }
  return out;
}
