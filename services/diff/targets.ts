/**
 * What each diff target did (sent, answered by status, failed by error kind, latency and
 * lateness), counted by the replayer: counters cumulative, histograms per interval.
 */
import { newHistogram, recordMs, toWire, type Histogram } from '../../shared/histogram.js';
import type { DiffTargetStats } from '../../shared/protocol.js';

class TargetAcc {
  sent = 0;
  ok = 0;
  failed = 0;
  readonly by_status: Record<string, number> = {};
  readonly by_error: Record<string, number> = {};
  latency: Histogram = newHistogram();
  lateness: Histogram = newHistogram();
}

export class TargetCounters {
  private readonly acc = new Map<string, TargetAcc>();

  constructor(targets: readonly string[]) {
    for (const t of targets) this.acc.set(t, new TargetAcc());
  }

  sent(target: string): void {
    this.get(target).sent++;
  }

  /** The request was written `latenessMs` after its due time. */
  written(target: string, latenessMs: number): void {
    recordMs(this.get(target).lateness, latenessMs);
  }

  /** A response came back; statuses ≥ 400 count as failed, as the replayer's own stats. */
  answered(target: string, status: number, latencyMs: number): void {
    const a = this.get(target);
    const code = String(status);
    a.by_status[code] = (a.by_status[code] ?? 0) + 1;
    if (status >= 400) a.failed++;
    else a.ok++;
    recordMs(a.latency, latencyMs);
  }

  failedWith(target: string, kind: string, latencyMs: number): void {
    const a = this.get(target);
    a.by_error[kind] = (a.by_error[kind] ?? 0) + 1;
    a.failed++;
    recordMs(a.latency, latencyMs);
  }

  /** Cumulative counters and this interval's histograms; the histograms start again. */
  snapshot(): Record<string, DiffTargetStats> {
    const out: Record<string, DiffTargetStats> = {};
    for (const [name, a] of this.acc) {
      out[name] = { sent: a.sent, ok: a.ok, failed: a.failed, by_status: { ...a.by_status }, by_error: { ...a.by_error }, latency: toWire(a.latency), lateness: toWire(a.lateness) };
      a.latency = newHistogram();
      a.lateness = newHistogram();
    }
    return out;
  }

  private get(target: string): TargetAcc {
    const a = this.acc.get(target);
    if (!a) throw new Error(`unknown diff target ${target}`);
    return a;
  }
}
