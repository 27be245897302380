/**
 * What a replayer counts. Counters are cumulative (a lost stats message loses nothing: the next
 * one carries the totals); histograms cover one interval and are merged exactly by the reporter.
 */
import { ApiNamer } from '../../shared/api-name.js';
import { toWire, newHistogram, recordMs, type Histogram } from '../../shared/histogram.js';
import type { ApiStats, StatsMsg } from '../../shared/protocol.js';

/** Distinct API names a replayer reports before folding the rest into `other`. */
const API_CAP = 200;

interface ApiAcc {
  count: number;
  failed: number;
  latency: Histogram;
}

/** Status codes as counter keys, made once each. */
const STATUS_KEYS: string[] = [];
function statusKey(status: number): string {
  return status >= 0 && status < 1000 ? (STATUS_KEYS[status] ??= String(status)) : String(status);
}

export class ReplayerStats {
  received = 0;
  sent = 0;
  ok = 0;
  failed = 0;
  readonly droppedByReason: Record<string, number> = {};
  readonly byStatus: Record<string, number> = {};
  readonly byError: Record<string, number> = {};
  private readonly apis = new ApiNamer(API_CAP);
  private byApi = new Map<string, ApiAcc>();
  private latency = newHistogram();
  private latencyFromDue = newHistogram();
  private lateness = newHistogram();
  private intervalSent = 0;
  private n = 0;

  droppedTotal(): number {
    let n = 0;
    for (const v of Object.values(this.droppedByReason)) n += v;
    return n;
  }

  drop(reason: string, count = 1): void {
    this.droppedByReason[reason] = (this.droppedByReason[reason] ?? 0) + count;
  }

  /** A request was handed to the HTTP client (it ends as a response or a failure). */
  dispatched(): void {
    this.sent++;
    this.intervalSent++;
  }

  /**
   * The request was written to its connection `latenessMs` after its due time: lateness includes
   * any wait for a free connection. A request that fails before it is written has none.
   */
  written(latenessMs: number): void {
    recordMs(this.lateness, latenessMs);
  }

  /** A response came back. Statuses ≥ 400 count as failed, as k6's http_req_failed. */
  answered(url: string, api: string | undefined, status: number, latencyMs: number, fromDueMs: number): void {
    const acc = this.record(url, api, latencyMs, fromDueMs);
    const code = statusKey(status);
    this.byStatus[code] = (this.byStatus[code] ?? 0) + 1;
    if (status >= 400) {
      this.failed++;
      acc.failed++;
    } else this.ok++;
  }

  /** The request failed without a response (`kind`: timeout, reset, …). */
  failedWith(url: string, api: string | undefined, kind: string, latencyMs: number, fromDueMs: number): void {
    const acc = this.record(url, api, latencyMs, fromDueMs);
    this.byError[kind] = (this.byError[kind] ?? 0) + 1;
    this.failed++;
    acc.failed++;
  }

  private record(url: string, api: string | undefined, latencyMs: number, fromDueMs: number): ApiAcc {
    recordMs(this.latency, latencyMs);
    recordMs(this.latencyFromDue, fromDueMs);
    const name = this.apis.name(url, api);
    let acc = this.byApi.get(name);
    if (!acc) this.byApi.set(name, (acc = { count: 0, failed: 0, latency: newHistogram() }));
    acc.count++;
    recordMs(acc.latency, latencyMs);
    return acc;
  }

  /** The stats message for the interval just ended; interval histograms start again. */
  /** `wire`: the bytes of the target's connections so far (counted by the sockets, not here). */
  snapshot(id: string, final: boolean, wire: { sent: number; received: number }): Omit<StatsMsg, 'v' | 'kind' | 'sender'> {
    const by_api: Record<string, ApiStats> = {};
    for (const [name, acc] of this.byApi) by_api[name] = { count: acc.count, failed: acc.failed, latency: toWire(acc.latency) };
    const msg = {
      id,
      n: this.n++,
      final,
      received: this.received,
      sent: this.sent,
      ok: this.ok,
      failed: this.failed,
      dropped_by_reason: { ...this.droppedByReason },
      by_status: { ...this.byStatus },
      by_error: { ...this.byError },
      bytes_sent: wire.sent,
      bytes_received: wire.received,
      latency: toWire(this.latency),
      latency_from_due: toWire(this.latencyFromDue),
      lateness: toWire(this.lateness),
      by_api,
      interval_sent: this.intervalSent,
    };
    this.latency = newHistogram();
    this.latencyFromDue = newHistogram();
    this.lateness = newHistogram();
    this.byApi = new Map();
    this.intervalSent = 0;
    return msg;
  }
}
