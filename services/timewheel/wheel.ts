/**
 * The time wheel's decisions, as plain data and pure functions (Vegeta's `Pace(elapsed, hits) →
 * (wait, stop)` one level up): what a pulled batch adds, when the clock starts, what is due,
 * when to wake, whether flow control holds, what a control request changes, when the job is
 * complete. timewheel.ts only pulls, sleeps until `wakeAt`, saves the checkpoint, publishes and
 * acks; the tests drive these functions with a fake clock.
 *
 * `WheelProgress` is the job's progress and, with an envelope, *is* the checkpoint: whatever
 * is saved is exactly what a restarted time wheel continues from.
 *
 * Over 350 lines on purpose: one state type and every function that changes it, so the
 * invariants (nothing released twice, exact copies under `rate`, `last` moves with every record
 * that leaves the buffer) can be checked in one file.
 */
import {
  JOB_STATES,
  type DueRecord,
  type LogRecord,
  type RecordBatchMsg,
  type RecordKey,
  type SourceCounts,
  type SourceEndMsg,
  type TimewheelCheckpoint,
} from '../../shared/protocol.js';
import { decideControl, type ControlDecision } from './control.js';
import { dueAt, logTimeAt, peekDue, rebase, startPacer, type PacerState } from './pacer.js';
import { changeRate, copiesFor, rateOf, startRate, type RateState } from './rate.js';
import { ReorderBuffer } from './reorder.js';
import { behindLive, followPacer, followPosition } from './follow.js';

/** The job's settings the decisions use (from `[job]`). */
export interface WheelSettings {
  leadMs: number;
  maxBuffer: number;
  /** Copies the replayers may have unsent before releases hold; 0 = no flow control. */
  maxBacklog: number;
  minReplayers: number;
  warmupMs: number;
  speed: number;
  rate: number;
  maxIdleMs: number;
  reorderWindowMs: number;
  /** Log-time window, epoch ms (`begin` inclusive, `end` exclusive); undefined = open. */
  begin?: number;
  end?: number;
  /** Records per dispatch message. */
  dispatchBatch: number;
  /**
   * Follow mode (a live source): each record is due at its own ts + this many ms (log time =
   * wall time − delay, speed 1), the job runs until stopped; undefined = a bounded replay.
   */
  followDelayMs?: number;
}

/** The checkpoint without its envelope: the job's progress, all of it. */
export type WheelProgress = Omit<TimewheelCheckpoint, 'v' | 'kind' | 'sender'>;

export interface WheelState {
  readonly cfg: WheelSettings;
  progress: WheelProgress;
  buffer: ReorderBuffer<LogRecord>;
  pacer?: PacerState;
  /** Log time frozen by a pause (the position resume continues from). */
  frozenAt: number;
  /** Replayers up, as the router last said. */
  members: number;
  /** Copies the replayers have not sent yet, as the router last said (flow control). */
  backlog: number;
  /** Copies released since that router message (not in its backlog yet). */
  sinceRouter: number;
  /** Final counts of each ended source (also in `progress.source_counts`). */
  readonly sourceCounts: Map<number, SourceCounts>;
  /**
   * Sources that had ended before a restart. They count as ended only once the stream has
   * delivered every batch still in it (`streamDrained`): their unacked batches come first.
   */
  endedBeforeRestart: number[];
  /** Built from a checkpoint: a record not after `progress.last` may have been released before. */
  readonly resumed: boolean;
}

export interface StepResult {
  /** Dispatch batches to publish, in order (after the checkpoint is saved). */
  batches: DueRecord[][];
  /** Copies in those batches. */
  copies: number;
  /** Records that left the buffer in this step (their stream batches may become ackable). */
  settled: LogRecord[];
  /** When to step again (epoch ms); null = only an event (a pull, a router message) can change anything. */
  wakeAt: number | null;
  /** Flow control holds releases. */
  held: boolean;
  /** The clock started in this step. */
  started: boolean;
  /** Every source ended and every record is out: the job is complete. */
  complete: boolean;
}

/** Flow control waits this long before looking again (the router reports every 100 ms). */
const HELD_RETRY_MS = 50;

function newProgress(cfg: WheelSettings): WheelProgress {
  const rate = startRate(cfg.rate);
  return {
    last: null,
    state: JOB_STATES.pending,
    dispatched: 0,
    copies: 0,
    filtered: 0,
    never_sent: 0,
    dispatch_n: 0,
    rate_units: rate.units,
    rate_acc: rate.acc,
    speed: cfg.speed,
    started_at: 0,
    first_ts: 0,
    last_ts: 0,
    sources: 0,
    source_counts: [],
  };
}

/** A fresh job, or one continued from its checkpoint (`progress` as saved) at `now`. */
export function newWheel(cfg: WheelSettings, progress: WheelProgress | undefined, now: number): WheelState {
  const p = progress ? { ...progress, source_counts: [...progress.source_counts] } : newProgress(cfg);
  const s: WheelState = {
    cfg,
    progress: p,
    buffer: new ReorderBuffer<LogRecord>(p.sources > 0 ? cfg.reorderWindowMs : 0, Math.max(1, p.sources)),
    frozenAt: 0,
    members: 0,
    backlog: 0,
    sinceRouter: 0,
    sourceCounts: new Map(p.source_counts),
    endedBeforeRestart: p.source_counts.map(([src]) => src),
    resumed: progress !== undefined,
  };
  if (progress && (p.state === JOB_STATES.running || p.state === JOB_STATES.paused)) {
    // Carry on from the last released record's log time, after a warm-up: no catch-up burst.
    const at = p.last ? p.last[0] : p.first_ts;
    // Following, the clock is the wall clock: it picks up where live traffic is now.
    s.pacer = cfg.followDelayMs === undefined ? startPacer(now + cfg.warmupMs, at, p.speed, cfg.maxIdleMs) : followPacer(now, cfg.followDelayMs, at);
    s.frozenAt = s.pacer.originLog;
  }
  return s;
}

/** The exact-rate state kept in the progress (flat there, as the checkpoint stores it). */
function rateIn(p: WheelProgress): RateState {
  return { units: p.rate_units, acc: p.rate_acc };
}
function storeRate(p: WheelProgress, r: RateState): void {
  p.rate_units = r.units;
  p.rate_acc = r.acc;
}

/** (ts, src, seq) order, as the time wheel releases records. */
function keyOf(r: LogRecord): RecordKey {
  return [r.ts, r.src, r.seq];
}
function notAfter(r: LogRecord, k: RecordKey): boolean {
  return r.ts !== k[0] ? r.ts < k[0] : r.src !== k[1] ? r.src < k[1] : r.seq <= k[2];
}

/** The first message of a job tells how many sources it has; the re-order window applies from then on. */
function learnSources(s: WheelState, sources: number): void {
  if (sources <= s.progress.sources) return;
  s.progress.sources = sources;
  const old = s.buffer;
  s.buffer = new ReorderBuffer<LogRecord>(s.cfg.reorderWindowMs, sources);
  for (let r = old.pop(); r; r = old.pop()) s.buffer.push(r);
  for (const src of s.sourceCounts.keys()) if (!s.endedBeforeRestart.includes(src)) s.buffer.endSource(src);
}

/** The stream has delivered every batch it held: sources that ended before a restart are ended now. */
export function streamDrained(s: WheelState): void {
  for (const src of s.endedBeforeRestart) s.buffer.endSource(src);
  s.endedBeforeRestart = [];
}

/**
 * Takes a pulled record batch in: skips what was released before a restart (the checkpoint's
 * `last` says so), counts what is outside `begin`/`end` as filtered. Returns the records kept
 * (now in the buffer).
 */
export function ingestBatch(s: WheelState, msg: RecordBatchMsg): LogRecord[] {
  learnSources(s, msg.sources);
  const p = s.progress;
  const { begin, end } = s.cfg;
  const kept: LogRecord[] = [];
  // Following, a record older than one already released is late, not a redelivery, unless this
  // time wheel took over from a checkpoint (then it may be either; it is taken as released).
  const skipOld = s.cfg.followDelayMs === undefined || s.resumed;
  for (const r of msg.records) {
    if (skipOld && p.last && notAfter(r, p.last)) continue;
    if ((begin !== undefined && r.ts < begin) || (end !== undefined && r.ts >= end)) {
      p.filtered++;
      continue;
    }
    if (p.first_ts === 0 || r.ts < p.first_ts) p.first_ts = r.ts;
    if (r.ts > p.last_ts) p.last_ts = r.ts;
    kept.push(r);
    s.buffer.push(r);
  }
  return kept;
}

/** A source is exhausted; returns true the first time (its counts are new). */
export function endSource(s: WheelState, msg: SourceEndMsg): boolean {
  learnSources(s, msg.sources);
  s.buffer.endSource(msg.src);
  if (s.sourceCounts.has(msg.src)) return false;
  s.sourceCounts.set(msg.src, msg.counts);
  s.progress.source_counts = [...s.sourceCounts.entries()];
  return true;
}

/** The router's latest figures (membership and the replayers' backlog). */
export function routerSaid(s: WheelState, members: number, backlog: number): void {
  s.members = members;
  s.backlog = backlog;
  s.sinceRouter = 0;
}

/** True while the replayers' backlog (plus `extra` about to go) is over `max_backlog`. */
export function isHeld(s: WheelState, extra = 0): boolean {
  const max = s.cfg.maxBacklog;
  return max > 0 && s.backlog + s.sinceRouter + extra >= max;
}

/** True once every source has ended. */
export function allRead(s: WheelState): boolean {
  return s.progress.sources > 0 && s.buffer.allEnded;
}

/** The buffer is full, or flow control holds and enough is buffered: pulling more would only grow memory. */
export function shouldPull(s: WheelState, heldFloor: number): boolean {
  if (s.progress.state === JOB_STATES.stopped) return true;
  return !(s.buffer.size >= s.cfg.maxBuffer || (isHeld(s) && s.buffer.size >= heldFloor));
}

/**
 * One decision at wall time `now`: start the clock when it can, count what a stop left as never
 * sent, take every record due within `lead_ms` out of the buffer (copies under `rate`), say
 * when to wake and whether the job is complete. Never releases a record twice: what leaves the
 * buffer moves `progress.last` past it.
 */
export function step(s: WheelState, now: number): StepResult {
  const r: StepResult = { batches: [], copies: 0, settled: [], wakeAt: null, held: false, started: false, complete: false };
  const p = s.progress;
  if (p.state === JOB_STATES.pending) r.started = maybeStart(s, now);
  if (p.state === JOB_STATES.stopped) drainStopped(s, r);
  if (p.state === JOB_STATES.running && s.pacer) collectDue(s, s.pacer, now, r);
  r.complete = allRead(s) && s.buffer.size === 0 && p.state !== JOB_STATES.pending && p.state !== JOB_STATES.paused;
  return r;
}

/** The clock starts once enough replayers are up and the first record's place is known. */
function maybeStart(s: WheelState, now: number): boolean {
  const { cfg, progress: p } = s;
  if (s.members < cfg.minReplayers) return false;
  if (cfg.followDelayMs !== undefined) {
    // Live traffic: the clock runs from now on, records or not.
    p.started_at = now;
    p.state = JOB_STATES.running;
    s.pacer = followPacer(now, cfg.followDelayMs);
    return true;
  }
  const head = s.buffer.peekReady(s.buffer.size >= cfg.maxBuffer);
  if (!head && !allRead(s)) return false;
  p.started_at = now;
  p.state = JOB_STATES.running;
  s.pacer = startPacer(now + cfg.warmupMs, head?.ts ?? 0, p.speed, cfg.maxIdleMs);
  return true;
}

function collectDue(s: WheelState, pacer: PacerState, now: number, r: StepResult): void {
  const { cfg, progress: p } = s;
  const horizon = now + cfg.leadMs;
  const rate = rateIn(p);
  let out: DueRecord[] = [];
  let released = 0;
  // Following, the watermark is the wall clock: a record leaves when its due time (ts + delay) is
  // within the lead, whether or not newer records came, so the re-order window is delay − lead;
  // one that arrives later than that leaves at once, late (counted by the buffer), not dropped.
  const follow = cfg.followDelayMs !== undefined;
  for (;;) {
    const head = s.buffer.peekReady(follow || s.buffer.size >= cfg.maxBuffer);
    if (!head) break;
    if (isHeld(s, released)) {
      // Replayers are behind: look again once the router has reported (every 100 ms).
      r.held = true;
      r.wakeAt = now + HELD_RETRY_MS;
      break;
    }
    const headDue = peekDue(pacer, head.ts);
    if (headDue > horizon) {
      // Wake when the head enters the lead window, but at most every lead_ms/5: each step then
      // carries a fifth of the window (one dispatch message and one checkpoint per step, not per
      // record), and every record still leaves at least 4/5 of lead_ms before its due time.
      r.wakeAt = now + Math.max(1, headDue - horizon, cfg.leadMs / 5);
      break;
    }
    s.buffer.pop();
    r.settled.push(head);
    p.last = keyOf(head);
    const due = dueAt(pacer, head.ts);
    p.dispatched++;
    const n = copiesFor(rate);
    for (let c = 0; c < n; c++) {
      // The first copy is the record itself, stamped (it left the buffer: no one else holds
      // it); further copies under `rate` are new objects.
      let rec: DueRecord;
      if (c === 0) {
        rec = head as DueRecord;
        rec.due = due;
        rec.copy = 0;
      } else rec = { ...head, due, copy: c };
      out.push(rec);
      released++;
      if (out.length >= cfg.dispatchBatch) {
        r.batches.push(out);
        out = [];
      }
    }
  }
  if (out.length) r.batches.push(out);
  storeRate(p, rate);
  r.copies = released;
  p.copies += released;
  s.sinceRouter += released;
}

/**
 * After a stop every record not yet released is counted, with its copies under `rate`, as never
 * sent: the fetcher stops reading (it watches the status), and what it already published is
 * pulled and counted, so the accounting closes.
 */
function drainStopped(s: WheelState, r: StepResult): void {
  const p = s.progress;
  const rate = rateIn(p);
  for (let rec = s.buffer.pop(); rec; rec = s.buffer.pop()) {
    r.settled.push(rec);
    p.last = keyOf(rec);
    p.dispatched++;
    p.never_sent += copiesFor(rate);
  }
  storeRate(p, rate);
}

/** Log time the job is at: frozen while paused, never past the last released record. */
export function positionAt(s: WheelState, now: number): number {
  if (s.progress.state === JOB_STATES.paused) return s.frozenAt;
  if (!s.pacer) return 0;
  if (s.cfg.followDelayMs !== undefined) return followPosition(s.pacer, s.buffer.peekReady(true)?.ts, now);
  return Math.min(Math.max(logTimeAt(s.pacer, now), s.pacer.originLog), s.pacer.lastTs);
}

/** Follow mode: how far behind live the job runs, ms (undefined for a bounded replay). */
export function behindLiveMs(s: WheelState, now: number): number | undefined {
  const delay = s.cfg.followDelayMs;
  if (delay === undefined || s.progress.state === JOB_STATES.pending) return undefined;
  return behindLive(positionAt(s, now), delay, now);
}

export function currentSpeed(s: WheelState): number {
  return s.pacer?.speed ?? s.progress.speed;
}

export function currentRate(s: WheelState): number {
  return rateOf(rateIn(s.progress));
}

/**
 * Applies one control request at `now` (pause, resume, speed, rate, stop, status), or says why
 * not. The caller steps afterwards: a resume, speed change or stop takes effect in that step.
 */
export function control(s: WheelState, op: string, value: number | undefined, now: number): ControlDecision {
  const p = s.progress;
  const d = decideControl(p.state, op, value);
  if (!d.ok) return d;
  if (d.op === 'speed' && s.cfg.followDelayMs !== undefined) return { ok: false, error: 'a follow job runs at speed 1 (log time = wall time − delay_ms); its speed does not change' };
  switch (d.op) {
    case 'pause':
      // Records already released (due within lead_ms) still go out; nothing after them.
      s.frozenAt = positionAt(s, now);
      p.state = JOB_STATES.paused;
      break;
    case 'resume':
      // Continue from the frozen log time: the next record is due after its own gap, no burst.
      if (s.pacer) s.pacer = rebase(s.pacer, now, s.frozenAt, s.pacer.speed);
      p.state = JOB_STATES.running;
      break;
    case 'speed':
      if (s.pacer) {
        const at = p.state === JOB_STATES.paused ? s.frozenAt : positionAt(s, now);
        s.pacer = rebase(s.pacer, now, at, d.value!);
      }
      p.speed = d.value!;
      break;
    case 'rate': {
      const rate = rateIn(p);
      changeRate(rate, d.value!);
      storeRate(p, rate);
      break;
    }
    case 'stop':
      p.state = JOB_STATES.stopped;
      break;
    case 'status':
      break;
  }
  return d;
}

/** The job is complete: its final state (a stopped job stays stopped). */
export function finishJob(s: WheelState): void {
  if (s.progress.state !== JOB_STATES.stopped) s.progress.state = JOB_STATES.finished;
}
