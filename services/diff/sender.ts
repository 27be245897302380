/**
 * The replayer's sender under `[diff]`: each record's request goes to the primary, the candidate
 * and the secondary at once, each through its own keep-alive undici Pool. Each target's status,
 * headers and body (up to max_body_bytes) are collected; when all have answered or failed, the
 * record settles at once as the primary's outcome, so the replayer's own counts and accounting
 * are those of the primary, and its slot is free for the next record. Its responses are compared
 * (record.ts) a little later, in a batch with the other records that ended meanwhile: comparing
 * is never on the path between a response and the next request, and the CPU clock is read per
 * batch, not twice per record (a getrusage call cost ~6 µs, a sixth of a record's comparison).
 * A stats snapshot compares whatever waits first. Lateness, latency and status are also counted
 * per target (targets.ts).
 */
import { Pool, type Dispatcher } from 'undici';
import type { DiffStats, DueRecord } from '../../shared/protocol.js';
import type { OutgoingRequest } from '../replayer/request.js';
import type { Clock } from '../replayer/scheduler.js';
import { TargetConnections } from '../replayer/connections.js';
import { errorKind, type Exchange } from '../replayer/exchange.js';
import { DiffCounters } from './counters.js';
import { compareRecord, comparerOptions, type ComparerOptions, type TargetOutcome } from './record.js';
import { TARGETS, type DiffSettings, type TargetName } from './settings.js';
import { TargetCounters } from './targets.js';
import { warmUpComparison } from './warmup.js';

/** Longest wait for a pool to close. */
const CLOSE_WAIT_MS = 1500;
/**
 * Records ended are compared in batches: COMPARE_AFTER_MS after the first of a batch ended, or
 * at once when COMPARE_BATCH records or COMPARE_BATCH_BYTES of their bodies wait (memory stays
 * bounded whatever the body size). The CPU clock is read twice per batch; on a loaded machine a
 * batch per event-loop turn was only a few records, and the reads cost ~6 µs each.
 */
const COMPARE_AFTER_MS = 20;
const COMPARE_BATCH = 128;
const COMPARE_BATCH_BYTES = 4 * 1024 * 1024;

export interface SenderOptions {
  timeoutMs: number;
  /** Keep-alive connections per target. */
  connections: number;
  clock: Clock;
}

/** One record in flight to every target; settles its Exchange once all have ended. */
class Trio {
  readonly outcomes: Partial<Record<TargetName, TargetOutcome>> = {};
  pending = 0;
  /** The primary's failure as undici reported it (the replayer names its kind). */
  primaryError?: Error;
  /** The record: kept here, since the exchange is reused once it settles. */
  readonly rec: DueRecord;
  constructor(readonly ex: Exchange) {
    this.rec = ex.rec;
  }
}

/** One target's request: undici's dispatch handler, collecting the response. */
class TargetCall implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: Array<[string, string]> = [];
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private cut = false;
  /** When the request was written; until then (a request failing unwritten), when it was dispatched. */
  private writtenAt: number;

  constructor(
    private readonly sender: DiffSender,
    private readonly trio: Trio,
    readonly target: TargetName,
    dispatchedAt: number,
  ) {
    this.writtenAt = dispatchedAt;
  }

  onConnect(): void {}
  onRequestSent(): void {
    this.writtenAt = this.sender.clock.now();
    this.sender.targets.written(this.target, this.writtenAt - this.trio.rec.due);
    // The primary's write is the record's: its lateness is the replayer's.
    if (this.target === 'primary') this.trio.ex.onRequestSent();
  }
  onHeaders(statusCode: number, raw: Buffer[]): boolean {
    this.status = statusCode;
    this.headers = [];
    for (let i = 0; i + 1 < raw.length; i += 2) this.headers.push([raw[i].toString('latin1'), raw[i + 1].toString('latin1')]);
    return true;
  }
  onData(chunk: Buffer): boolean {
    const room = this.sender.maxBodyBytes - this.bytes;
    if (chunk.length > room) this.cut = true;
    if (room > 0) {
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      this.chunks.push(part);
      this.bytes += part.length;
    }
    return true;
  }
  onComplete(): void {
    const latency = this.sender.clock.now() - this.writtenAt;
    this.sender.targets.answered(this.target, this.status, latency);
    this.sender.ended(this.trio, this.target, { response: { status: this.status, headers: this.headers, body: Buffer.concat(this.chunks, this.bytes), cut: this.cut } });
  }
  onError(err: Error): void {
    const kind = errorKind(err);
    this.sender.targets.failedWith(this.target, kind, this.sender.clock.now() - this.writtenAt);
    if (this.target === 'primary') this.trio.primaryError = err;
    this.sender.ended(this.trio, this.target, { error: kind });
  }
}

export class DiffSender {
  private readonly pools = new Map<TargetName, Pool>();
  /** Each target's connections: opened ahead of the first due time, and their bytes counted. */
  private readonly connections: TargetConnections[] = [];
  counters: DiffCounters;
  targets: TargetCounters;
  private readonly examples: number;
  readonly maxBodyBytes: number;
  private readonly compareOpts: ComparerOptions;
  /** CPU time spent lifting and comparing responses, ms (the bench reports its share). */
  compareMs = 0;
  /** Records ended on every target, not compared yet (compared by `compareEnded`). */
  private uncompared: Trio[] = [];
  /** Body bytes of the records in `uncompared`. */
  private uncomparedBytes = 0;
  private compareTimer?: NodeJS.Timeout;

  readonly clock: Clock;

  constructor(settings: DiffSettings, opts: SenderOptions) {
    this.clock = opts.clock;
    for (const t of TARGETS) {
      const url = settings[t];
      if (url === undefined) continue;
      const origin = new URL(new URL(url).origin);
      const conns = new TargetConnections(origin);
      this.connections.push(conns);
      this.pools.set(t, new Pool(origin, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, connect: conns.connect }));
    }
    this.targets = new TargetCounters([...this.pools.keys()]);
    this.examples = settings.examples;
    this.counters = new DiffCounters(settings.examples);
    this.maxBodyBytes = settings.max_body_bytes;
    this.compareOpts = comparerOptions(settings);
  }

  /** Sends `req` to every target; `ex` (the replayer's exchange) settles when all have ended. */
  dispatch(req: OutgoingRequest, ex: Exchange): boolean {
    const trio = new Trio(ex);
    trio.pending = this.pools.size;
    const now = this.clock.now();
    for (const [target, pool] of this.pools) {
      this.targets.sent(target);
      pool.dispatch(req, new TargetCall(this, trio, target, now));
    }
    return true;
  }

  /** One target ended; the last one settles the record and queues its comparison. */
  ended(trio: Trio, target: TargetName, outcome: TargetOutcome): void {
    trio.outcomes[target] = outcome;
    if (--trio.pending > 0) return;
    this.uncompared.push(trio);
    for (const o of Object.values(trio.outcomes)) if ('response' in o) this.uncomparedBytes += o.response.body.length;
    // Settled first: the next record goes out before any comparing.
    const primary = trio.outcomes.primary!;
    if ('error' in primary) trio.ex.onError(trio.primaryError ?? new Error(primary.error));
    else {
      trio.ex.onHeaders(primary.response.status);
      trio.ex.onComplete();
    }
    if (this.uncompared.length >= COMPARE_BATCH || this.uncomparedBytes >= COMPARE_BATCH_BYTES) this.compareEnded();
    else this.compareTimer ??= setTimeout(this.compareEnded, COMPARE_AFTER_MS);
  }

  /** Compares every record ended so far (also before each snapshot, so counts are never behind). */
  private readonly compareEnded = (): void => {
    clearTimeout(this.compareTimer);
    this.compareTimer = undefined;
    const batch = this.uncompared;
    if (batch.length === 0) return;
    this.uncompared = [];
    this.uncomparedBytes = 0;
    // CPU time, not wall time: on a busy machine the process may be descheduled meanwhile.
    const t0 = process.cpuUsage();
    for (const trio of batch) compareRecord(trio.rec, trio.outcomes, this.compareOpts, this.counters);
    const used = process.cpuUsage(t0);
    this.compareMs += (used.user + used.system) / 1000;
  };

  /** Runs the comparison on synthetic records (warmup.ts), so the first real ones run compiled code. */
  warmUp(): void {
    warmUpComparison(this.compareOpts);
  }

  /** Opens `n` keep-alive connections to each target ahead of time (no request is sent). */
  async open(n: number): Promise<{ idle: number; errors: string[] }> {
    const all = await Promise.all(this.connections.map((c) => c.open(n)));
    return { idle: all.reduce((s, x) => s + x.idle, 0), errors: [...new Set(all.flatMap((x) => x.errors))] };
  }

  /** Bytes written to and read from every target's connections so far. */
  bytes(): { sent: number; received: number } {
    let sent = 0;
    let received = 0;
    for (const c of this.connections) {
      const b = c.bytes();
      sent += b.sent;
      received += b.received;
    }
    return { sent, received };
  }

  /** The replayer joined again as a new life (a fence): its counts start from 0, as its stats do. */
  newLife(): void {
    // Records of the life that ended are its own: compared into its counters, then dropped.
    this.compareEnded();
    this.counters = new DiffCounters(this.examples);
    this.targets = new TargetCounters([...this.pools.keys()]);
    this.compareMs = 0;
  }

  snapshot(): DiffStats {
    this.compareEnded();
    return { ...this.counters.snapshot(), targets: this.targets.snapshot(), compare_ms: Math.round(this.compareMs) };
  }

  /** Closes the pools; a request stuck past CLOSE_WAIT_MS is cut (the drain already waited for answers). */
  async close(): Promise<void> {
    this.compareEnded();
    for (const c of this.connections) c.close();
    await Promise.all(
      [...this.pools.values()].map(async (p) => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([p.close().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
        clearTimeout(timer);
        if (!p.destroyed) await p.destroy().catch(() => undefined);
      }),
    );
  }
}
