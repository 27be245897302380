/**
 * The reporter's side: replayers' diff stats merged exactly. Counters are cumulative per
 * replayer life, so the job's are the sum of each life's latest; histograms and examples arrive
 * once each and are added as they come. Pure apart from histogram memory.
 */
import { mergeWire, newHistogram, type Histogram } from '../../shared/histogram.js';
import type { DiffEndpointStats, DiffExample, DiffStats, DiffTargetStats } from '../../shared/protocol.js';

/** Adds `from`'s endpoint counters into `into`. */
export function addEndpoints(into: Record<string, DiffEndpointStats>, from: Readonly<Record<string, DiffEndpointStats>>): void {
  for (const [name, e] of Object.entries(from)) {
    const t = (into[name] ??= { total: 0, skipped: {}, fields: {} });
    t.total += e.total;
    addCounts(t.skipped, e.skipped);
    for (const [path, byKind] of Object.entries(e.fields)) {
      const tk = (t.fields[path] ??= {});
      for (const [kind, c] of Object.entries(byKind)) {
        const x = (tk[kind] ??= { raw: 0, noise: 0 });
        x.raw += c.raw;
        x.noise += c.noise;
      }
    }
  }
}

export function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** A target's counters summed over the replayers, and every interval's histograms added. */
export type TargetTotals = Omit<DiffTargetStats, 'latency' | 'lateness'> & { latency: Histogram; lateness: Histogram };

export interface DiffTotals {
  endpoints: Record<string, DiffEndpointStats>;
  bodies: Record<string, Record<string, number>>;
  targets: Record<string, TargetTotals>;
  /** Time the replayers spent comparing, ms. */
  compare_ms: number;
}

export class DiffMerger {
  private readonly latest = new Map<string, DiffStats>();
  private readonly histograms = new Map<string, { latency: Histogram; lateness: Histogram }>();
  /** Examples by endpoint, path and kind, the first `perField` of each. */
  private readonly examples = new Map<string, DiffExample[]>();

  /** `perField`: examples kept per endpoint, path and kind (the report shows `[diff] examples` of them). */
  constructor(private readonly perField = 100) {}

  /** `life`: the sender's lifeKey; the message is the newest of that life (the caller checks). */
  add(life: string, d: DiffStats): void {
    this.latest.set(life, d);
    for (const [name, t] of Object.entries(d.targets)) {
      let h = this.histograms.get(name);
      if (!h) this.histograms.set(name, (h = { latency: newHistogram(), lateness: newHistogram() }));
      mergeWire(h.latency, t.latency);
      mergeWire(h.lateness, t.lateness);
    }
    for (const ex of d.examples) {
      const key = `${ex.endpoint}\u0000${ex.path}\u0000${ex.kind}`;
      const list = this.examples.get(key) ?? [];
      if (list.length < this.perField) this.examples.set(key, [...list, ex]);
    }
  }

  /** Whether any replayer reported a comparison. */
  get empty(): boolean {
    return this.latest.size === 0;
  }

  examplesOf(endpoint: string, path: string, kind: string): DiffExample[] {
    return this.examples.get(`${endpoint}\u0000${path}\u0000${kind}`) ?? [];
  }

  totals(): DiffTotals {
    const out: DiffTotals = { endpoints: {}, bodies: {}, targets: {}, compare_ms: 0 };
    for (const d of this.latest.values()) {
      out.compare_ms += d.compare_ms ?? 0;
      addEndpoints(out.endpoints, d.endpoints);
      for (const [target, flags] of Object.entries(d.bodies)) addCounts((out.bodies[target] ??= {}), flags);
      for (const [name, t] of Object.entries(d.targets)) {
        const h = this.histograms.get(name)!;
        const x = (out.targets[name] ??= { sent: 0, ok: 0, failed: 0, by_status: {}, by_error: {}, latency: h.latency, lateness: h.lateness });
        x.sent += t.sent;
        x.ok += t.ok;
        x.failed += t.failed;
        addCounts(x.by_status, t.by_status);
        addCounts(x.by_error, t.by_error);
      }
    }
    return out;
  }
}
