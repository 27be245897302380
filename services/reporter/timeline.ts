/**
 * The report's timeline: what was sent and answered, and how fast, over the job. Each reporter
 * interval's latency and lateness histograms (wire buckets) are kept with its counts, so when
 * intervals share a chart point their histograms are merged exactly and the point's p50 and p99
 * are true percentiles of that span — not an average of p50s or the largest p99.
 *
 * Bounded: at most `max` buckets are kept. When one more is needed, neighbours are merged in
 * pairs and each bucket covers twice as many intervals from then on, so a 10-hour job holds (and
 * writes into the JSON report) at most `max` points, each with its own histograms merged once.
 */
import { mergeWire, newHistogram, percentilesMs, toWire, type Histogram, type HistogramWire } from '../../shared/histogram.js';
import type { TimelinePoint } from './report.js';

/** Points the report's timeline holds at most (and the HTML charts draw). */
export const MAX_TIMELINE_POINTS = 1200;

interface Bucket {
  /** Epoch ms at the end of the bucket's last interval. */
  t: number;
  intervals: number;
  sent: number;
  failed: number;
  latency: HistogramWire;
  lateness: HistogramWire;
}

/**
 * One scratch histogram for merging and reading buckets: a bucket holds only its non-empty
 * wire buckets, never a full HDR counts array (tens of kB each).
 */
const scratch = newHistogram();

/** The exact merge of wire histograms, as wire buckets again. */
function mergeWires(...wires: HistogramWire[]): HistogramWire {
  scratch.reset();
  for (const w of wires) mergeWire(scratch, w);
  return toWire(scratch);
}

function percentilesOf(wire: HistogramWire): ReturnType<typeof percentilesMs> {
  scratch.reset();
  mergeWire(scratch, wire);
  return percentilesMs(scratch);
}

function merged(a: Bucket, b: Bucket): Bucket {
  return {
    t: Math.max(a.t, b.t),
    intervals: a.intervals + b.intervals,
    sent: a.sent + b.sent,
    failed: a.failed + b.failed,
    latency: mergeWires(a.latency, b.latency),
    lateness: mergeWires(a.lateness, b.lateness),
  };
}

export class Timeline {
  private buckets: Bucket[] = [];
  /** Intervals per bucket; every bucket but the newest holds exactly this many. */
  private width = 1;

  constructor(private readonly max = MAX_TIMELINE_POINTS) {
    if (!(max >= 1)) throw new RangeError(`a timeline needs at least 1 point, got ${max}`);
  }

  /**
   * One reporter interval ending at `t` (epoch ms): requests it sent, failures it saw, and its
   * interval histograms of latency (its count is the requests answered) and lateness.
   */
  add(t: number, sent: number, failed: number, latency: Histogram, lateness: Histogram): void {
    const next: Bucket = { t, intervals: 1, sent, failed, latency: toWire(latency), lateness: toWire(lateness) };
    const last = this.buckets[this.buckets.length - 1];
    if (last && last.intervals < this.width) {
      this.buckets[this.buckets.length - 1] = merged(last, next);
      return;
    }
    this.buckets.push(next);
    if (this.buckets.length <= this.max) return;
    const halved: Bucket[] = [];
    for (let i = 0; i < this.buckets.length; i += 2) {
      const b = this.buckets[i + 1];
      halved.push(b ? merged(this.buckets[i]!, b) : this.buckets[i]!);
    }
    this.buckets = halved;
    this.width *= 2;
  }

  /** The timeline as the report carries it: one point per bucket, percentiles of its merged histograms. */
  points(): TimelinePoint[] {
    return this.buckets.map((b) => {
      const lat = percentilesOf(b.latency);
      return { t: b.t, sent: b.sent, completed: lat.count, failed: b.failed, p50_ms: lat.p50, p99_ms: lat.p99, lateness_p99_ms: percentilesOf(b.lateness).p99 };
    });
  }
}
