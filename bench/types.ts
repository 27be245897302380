/**
 * What the bench's phases share about a target, so one havok runner (bench/run.ts) drives the
 * node target (bench/target.ts) and nginx (bench/nginx.ts) alike.
 */
import type { EndReport } from '../services/reporter/report.js';

/** Requests a target saw since its last reset: count, first and last arrival (epoch ms; 0 = none). */
export interface TargetStats {
  count: number;
  first_at: number;
  last_at: number;
}

export interface BenchTarget {
  url: string;
  pid?: number;
  stats(): Promise<TargetStats>;
  /** Starts a new count; `record` asks the node target to keep arrival times (nginx always logs them). */
  reset(record?: boolean): Promise<void>;
  /** [q, arrival ms, …] since the last reset (q: the bench log's line number). */
  arrivals(): Promise<number[]>;
  stop(): Promise<void>;
}

export interface HavokRunOptions {
  name: string;
  logPath: string;
  speed: number;
  maxIdleMs: number;
  expectedS: number;
  /** Keep each request's arrival time at the target (for targetLateness). */
  recordArrivals?: boolean;
  /**
   * Havok as a user runs it (issue 15): the job's replayer keys at their defaults (not the bench's
   * tuned max_inflight and connections), and `havok local` starts a nats-server of its own (it
   * is given a URL where none answers), so start-up is what a first `havok local` pays.
   */
  defaults?: boolean;
  /** TOML appended to the job config (e.g. a `[diff]` section). */
  extraToml?: string;
}

export interface HavokRun {
  exit_code: number;
  /** Epoch ms at which `havok local` was spawned. */
  spawned_at_ms: number;
  wall_s: number;
  report?: EndReport;
  target: TargetStats & { rate_rps: number; span_s: number };
  arrivals?: number[];
  stderr_tail: string;
  summary: string;
}
