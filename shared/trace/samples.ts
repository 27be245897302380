/**
 * Requests kept for the end report so one can be found again (its trace id, URL and place in the
 * source): per group, the `n` slowest — group `slowest` over all requests, `error:<kind>` per
 * error kind and `status:<class>` per status class ≥ 400. Memory: n per group, and the groups are
 * the error kinds and status classes (a few). Replayers keep them, the reporter merges them with
 * `mergeSamples` (the n slowest of each group over all replayers). Pure.
 */
import type { DueRecord, SampleWire } from '../protocol.js';

export class SampleKeeper {
  private readonly groups = new Map<string, SampleWire[]>();

  /** `n`: samples per group; 0 = none. */
  constructor(
    private readonly n: number,
    private readonly replayer: string,
  ) {}

  /** One settled request; allocates only when it is kept. `status` 0 with `error` = no response. */
  offer(rec: DueRecord, status: number, error: string | undefined, latencyMs: number, latenessMs: number, traceId: string | undefined): void {
    if (this.n === 0) return;
    const group = error !== undefined ? `error:${error}` : status >= 400 ? `status:${Math.floor(status / 100)}xx` : undefined;
    const slow = this.wants('slowest', latencyMs);
    const inGroup = group !== undefined && this.wants(group, latencyMs);
    if (!slow && !inGroup) return;
    const s: SampleWire = {
      group: slow ? 'slowest' : group!,
      method: rec.method,
      url: rec.url,
      status,
      latency_ms: round3(latencyMs),
      lateness_ms: round3(latenessMs),
      replayer: this.replayer,
      src: rec.src,
      seq: rec.seq,
      due: rec.due,
    };
    if (traceId !== undefined) s.trace_id = traceId;
    if (error !== undefined) s.error = error;
    if (rec.line !== undefined) s.line = rec.line;
    if (slow) this.keep('slowest', s);
    if (inGroup) this.keep(group, slow ? { ...s, group } : s);
  }

  /** Every sample kept so far (cumulative). */
  samples(): SampleWire[] {
    return [...this.groups.values()].flat();
  }

  private wants(group: string, latencyMs: number): boolean {
    const list = this.groups.get(group);
    return !list || list.length < this.n || round3(latencyMs) > list[list.length - 1].latency_ms;
  }

  /** Inserts in latency order (slowest first), dropping the fastest past n. */
  private keep(group: string, s: SampleWire): void {
    let list = this.groups.get(group);
    if (!list) this.groups.set(group, (list = []));
    let i = list.length;
    while (i > 0 && list[i - 1].latency_ms < s.latency_ms) i--;
    list.splice(i, 0, s);
    if (list.length > this.n) list.pop();
  }
}

/** The `n` slowest of each group over every replayer's samples; groups in a fixed order (slowest, errors, statuses). */
export function mergeSamples(lists: Iterable<readonly SampleWire[]>, n: number): SampleWire[] {
  const by = new Map<string, SampleWire[]>();
  for (const list of lists) {
    for (const s of list) {
      const g = by.get(s.group);
      if (g) g.push(s);
      else by.set(s.group, [s]);
    }
  }
  const order = (g: string): string => (g === 'slowest' ? '0' : g.startsWith('error:') ? `1${g}` : `2${g}`);
  return [...by.entries()]
    .sort(([a], [b]) => (order(a) < order(b) ? -1 : 1))
    .flatMap(([, g]) => g.sort((a, b) => b.latency_ms - a.latency_ms || a.due - b.due).slice(0, n));
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
