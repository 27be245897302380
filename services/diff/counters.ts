/**
 * What one replayer counts of its comparisons: per endpoint and field, in how many records the
 * primary and the candidate differed (`raw`) and the primary and the secondary (`noise`); records
 * not compared, by reason; odd bodies; and a few examples per field. Counters are cumulative, so
 * the reporter sums each replayer's latest (merge.ts); examples go out once each.
 */
import { ApiNamer } from '../../shared/api-name.js';
import type { DiffEndpointStats, DiffExample, DiffStats } from '../../shared/protocol.js';
import type { BodyFlag } from './body.js';
import type { Difference } from './compare.js';

/** Distinct endpoints before the rest fold into `other` (as the replayer's per-API stats). */
const ENDPOINT_CAP = 200;
/** Distinct field paths per endpoint before the rest fold into `other`. */
const FIELD_CAP = 256;
/**
 * Distinct field paths over all endpoints before the rest fold into `other`: the counters go
 * whole in every stats message, which must stay well under NATS's 1 MB payload limit.
 */
const TOTAL_FIELD_CAP = 4096;
/** Examples held for the next stats messages at most (bounds memory). */
const PENDING_EXAMPLES_CAP = 200;
/** Characters of examples (their three bodies) per stats message; the rest wait for the next one. */
export const EXAMPLE_CHARS_PER_MESSAGE = 256 * 1024;
export const OTHER_FIELD = 'other';

export class DiffCounters {
  private readonly names = new ApiNamer(ENDPOINT_CAP);
  readonly endpoints: Record<string, DiffEndpointStats> = {};
  readonly bodies: Record<string, Record<string, number>> = {};
  private examples: DiffExample[] = [];
  /** Field paths counted, over every endpoint. */
  private fields = 0;
  /** Examples taken so far, by endpoint, path and kind. */
  private readonly taken = new Map<string, number>();

  /** `examplesPerField`: examples kept per endpoint, path and kind (0 = none). */
  constructor(private readonly examplesPerField: number) {}

  /** The endpoint name for a record (its route template, capped). */
  endpoint(url: string, api: string | undefined): string {
    return this.names.name(url, api);
  }

  /**
   * One record compared: `raw` the differences between primary and candidate, `noise` between
   * primary and secondary (empty without a secondary). A field counts once per record, however
   * many array elements differ in it. `example` builds the example of a raw difference; it is
   * called only while that field still wants one.
   */
  compared(endpoint: string, raw: readonly Difference[], noise: readonly Difference[], example: (d: Difference) => DiffExample): void {
    const e = this.at(endpoint);
    e.total++;
    this.countOnce(e, raw, 'raw', (path, d) => this.maybeExample(endpoint, path, d, example));
    this.countOnce(e, noise, 'noise');
  }

  /** Counts each (path, kind) of `diffs` once under `side`; `first` sees each counted one. */
  private countOnce(e: DiffEndpointStats, diffs: readonly Difference[], side: 'raw' | 'noise', first?: (path: string, d: Difference) => void): void {
    const seen = new Set<string>();
    for (const d of diffs) {
      const path = this.field(e, d.path);
      const key = `${path}\u0000${d.kind}`;
      if (seen.has(key)) continue;
      seen.add(key);
      count(e, path, d.kind)[side]++;
      first?.(path, d);
    }
  }

  /** A record whose responses were not compared (`reason`: e.g. `candidate_error`). */
  skipped(endpoint: string, reason: string): void {
    const s = this.at(endpoint).skipped;
    s[reason] = (s[reason] ?? 0) + 1;
  }

  /** What was odd about one target's body. */
  bodyFlags(target: string, flags: readonly BodyFlag[]): void {
    if (flags.length === 0) return;
    const b = (this.bodies[target] ??= {});
    for (const f of flags) b[f] = (b[f] ?? 0) + 1;
  }

  /**
   * Cumulative counters (copies) and examples not sent yet, as many as fit in
   * EXAMPLE_CHARS_PER_MESSAGE (at least one); the rest go with the next call.
   */
  snapshot(): Pick<DiffStats, 'endpoints' | 'bodies' | 'examples'> {
    let n = 0;
    let chars = 0;
    for (; n < this.examples.length; n++) {
      chars += Object.values(this.examples[n].responses).reduce((s, r) => s + r.body.length, 0);
      if (n > 0 && chars > EXAMPLE_CHARS_PER_MESSAGE) break;
    }
    const examples = this.examples.slice(0, n);
    this.examples = this.examples.slice(n);
    return { endpoints: structuredClone(this.endpoints), bodies: structuredClone(this.bodies), examples };
  }

  private at(endpoint: string): DiffEndpointStats {
    return (this.endpoints[endpoint] ??= { total: 0, skipped: {}, fields: {} });
  }

  /** The path counted: itself, or `other` once the endpoint has FIELD_CAP paths (or all TOTAL_FIELD_CAP). */
  private field(e: DiffEndpointStats, path: string): string {
    if (Object.hasOwn(e.fields, path)) return path;
    if (Object.keys(e.fields).length >= FIELD_CAP || this.fields >= TOTAL_FIELD_CAP) return OTHER_FIELD;
    this.fields++;
    return path;
  }

  private maybeExample(endpoint: string, path: string, d: Difference, example: (d: Difference) => DiffExample): void {
    if (this.examplesPerField === 0 || this.examples.length >= PENDING_EXAMPLES_CAP) return;
    const key = `${endpoint}\u0000${path}\u0000${d.kind}`;
    const n = this.taken.get(key) ?? 0;
    if (n >= this.examplesPerField) return;
    this.taken.set(key, n + 1);
    this.examples.push({ ...example(d), endpoint, path });
  }
}

function count(e: DiffEndpointStats, path: string, kind: string): { raw: number; noise: number } {
  const byKind = (e.fields[path] ??= {});
  return (byKind[kind] ??= { raw: 0, noise: 0 });
}
