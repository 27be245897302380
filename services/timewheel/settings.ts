/** The time wheel's settings from the job config (`[job]`), as the pure core takes them. */
import { toEpochMs, type HavokConfig } from '../../shared/config.js';
import type { WheelSettings } from './wheel.js';

/** Records per dispatch message to the router. */
const DISPATCH_BATCH = 500;

/** The job follows a live source (`[fetcher.jetstream] follow`): it runs until stopped. */
export function follows(cfg: HavokConfig): boolean {
  return cfg.fetcher.type === 'jetstream' && cfg.fetcher.jetstream.follow;
}

export function wheelSettings(cfg: HavokConfig): WheelSettings {
  const j = cfg.job;
  return {
    leadMs: j.lead_ms,
    maxBuffer: j.max_buffer,
    maxBacklog: j.max_backlog,
    minReplayers: j.min_replayers,
    warmupMs: j.warmup_ms,
    speed: j.speed,
    rate: j.rate,
    maxIdleMs: j.max_idle_ms,
    reorderWindowMs: j.reorder_window_ms,
    begin: toEpochMs(j.begin),
    end: toEpochMs(j.end),
    dispatchBatch: DISPATCH_BATCH,
    ...(follows(cfg) ? { followDelayMs: j.delay_ms } : {}),
  };
}
