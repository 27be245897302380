/**
 * What the time wheel tells the world, built from its state: the status message (every second
 * and on every change: the reporter's and the fetcher's view of the job) and the job view
 * `havok ctl status` shows. Pure.
 */
import type { HavokConfig } from '../../shared/config.js';
import { envelope, type JobView, type ParseErrorSample, type ReplayerInfo, type StatusMsg } from '../../shared/protocol.js';
import { allRead, behindLiveMs, currentRate, currentSpeed, positionAt, type WheelState } from './wheel.js';

const MAX_SAMPLES = 10;

/** Copies released per second, over the last second. */
export class ReleaseRate {
  private recent: Array<[number, number]> = [];

  add(now: number, copies: number): void {
    if (copies) this.recent.push([now, copies]);
  }

  perSecond(now: number): number {
    const cutoff = now - 1000;
    if (this.recent.length && this.recent[0][0] <= cutoff) this.recent = this.recent.filter(([t]) => t > cutoff);
    return this.recent.reduce((a, [, n]) => a + n, 0);
  }
}

export function jobView(s: WheelState, job: string, replayers: ReplayerInfo[], reqPerS: number, now: number): JobView {
  const p = s.progress;
  const total = p.dispatched + s.buffer.size;
  const behind = behindLiveMs(s, now);
  return {
    job,
    state: p.state,
    speed: currentSpeed(s),
    rate: currentRate(s),
    position: positionAt(s, now),
    first_ts: p.first_ts,
    last_ts: p.last_ts,
    progress: allRead(s) ? (total === 0 ? 100 : Math.round((p.dispatched / total) * 1000) / 10) : null,
    dispatched: p.dispatched,
    copies: p.copies,
    req_per_s: reqPerS,
    replayers,
    ...(behind === undefined ? {} : { behind_live_ms: behind }),
  };
}

export function statusMessage(s: WheelState, cfg: HavokConfig, sender: string, finishedAt: number, now: number): StatusMsg {
  const p = s.progress;
  const byReason: Record<string, number> = p.filtered ? { time_window: p.filtered } : {};
  const totals = { read: 0, parse_errors: 0, filtered: p.filtered, filtered_by_reason: byReason };
  const samples: ParseErrorSample[] = [];
  const behind = behindLiveMs(s, now);
  for (const c of s.sourceCounts.values()) {
    totals.read += c.read;
    totals.parse_errors += c.parse_errors;
    totals.filtered += c.filtered;
    for (const [k, v] of Object.entries(c.filtered_by_reason ?? {})) byReason[k] = (byReason[k] ?? 0) + v;
    samples.push(...c.samples.slice(0, MAX_SAMPLES - samples.length));
  }
  return {
    ...envelope('status', sender),
    job: cfg.job.id,
    state: p.state,
    speed: currentSpeed(s),
    rate: currentRate(s),
    position: positionAt(s, now),
    records: { ...totals, dispatched: p.dispatched },
    copies: p.copies,
    never_sent: p.never_sent,
    pending: s.buffer.size,
    sources_ended: s.sourceCounts.size,
    sources: p.sources,
    samples,
    started_at: p.started_at,
    finished_at: finishedAt,
    replayer: {
      ...(cfg.replayer.target ? { target: cfg.replayer.target } : {}),
      headers: cfg.replayer.headers,
      remove_headers: cfg.replayer.remove_headers,
      timeout_ms: cfg.replayer.timeout_ms,
      ...(cfg.diff ? { diff: cfg.diff } : {}),
    },
    ...(behind === undefined ? {} : { behind_live_ms: behind }),
  };
}
