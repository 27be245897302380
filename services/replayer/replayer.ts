/**
 * A replayer registers with heartbeats, takes the records the router assigns it, sends each at
 * its due time through a keep-alive undici Pool, and publishes what happened every interval:
 * cumulative counters plus interval histograms of latency (from the send and from the due time,
 * wrk2-style coordinated-omission correction) and lateness (send − due).
 */
import { Pool, errors as undiciErrors } from 'undici';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import { requireKeys, type HavokConfig } from '../../shared/config.js';
import { ProtocolError } from '../../shared/errors.js';
import { Actor } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/log.js';
import { decode, encode, envelope, REPLAYER_STATES, SAFE_TOKEN, subjects, type DueRecord, type ReplayerState } from '../../shared/protocol.js';
import { buildRequest, compileRules, type RequestRules } from './request.js';
import { DueQueue, systemClock } from './scheduler.js';
import { ReplayerStats, type Outcome } from './stats.js';

/** Period of progress heartbeats while requests are going out. */
const PROGRESS_MS = 100;
/** Longest wait for in-flight requests when stopping. */
const DRAIN_WAIT_MS = 6000;
/** Records waiting (due or not) beyond which new ones are dropped as `overload`. */
const MAX_QUEUED = 200_000;


export class Replayer extends Actor {
  private nc!: NatsConnection;
  private pool!: Pool;
  private readonly stats = new ReplayerStats();
  private readonly queue: DueQueue<DueRecord>;
  private rules: RequestRules;
  private inflight = 0;
  private state: ReplayerState = REPLAYER_STATES.up;
  private idle?: () => void;
  private readonly sender: string;

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
    readonly id: string,
  ) {
    super(log);
    if (!SAFE_TOKEN.test(id)) throw new Error(`replayer id ${JSON.stringify(id)} must be letters, digits, "_" or "-"`);
    this.sender = `replayer-${id}`;
    this.rules = compileRules(cfg.replayer.headers, cfg.replayer.remove_headers);
    this.queue = new DueQueue(systemClock, (rec, now) => this.trySend(rec, now));
  }

  protected async run(): Promise<void> {
    const job = this.cfg.job.id;
    this.nc = await connectBus(this.cfg.nats, this.log, { name: this.sender });
    this.onClose('nats', () => this.nc.drain());
    if (!this.cfg.replayer.target) await this.adoptJobSettings();
    requireKeys(this.cfg, [['replayer.target', this.cfg.replayer.target]]);
    const r = this.cfg.replayer;
    this.pool = new Pool(new URL(r.target!).origin, {
      connections: r.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: r.timeout_ms,
      bodyTimeout: r.timeout_ms,
    });
    // close() waits for in-flight requests; a request stuck past the drain must not hold the exit.
    this.onClose('http pool', async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.pool.close(), new Promise<void>((r) => (timer = setTimeout(r, 1500)))]);
      clearTimeout(timer);
      if (!this.pool.destroyed) await this.pool.destroy().catch(() => undefined);
    });
    const sub = this.nc.subscribe(subjects.replayer(job, this.id), {
      callback: (_err, msg) => {
        try {
          this.accept(decode(msg.data, 'assign').records);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          this.log.warn({ err: err.message }, 'malformed message dropped');
        }
      },
    });
    this.onClose('assign subscription', () => sub.unsubscribe());
    this.nc.subscribe(subjects.ended(job), { callback: () => this.finish(0, 'job ended') });
    const hb = setInterval(() => this.heartbeat(), r.heartbeat_ms);
    // Between heartbeats, a short progress beat whenever something was sent: the router's backlog
    // (the time wheel's flow control) then lags by 100 ms, not a whole heartbeat period.
    let lastBeat = 0;
    const progress = setInterval(() => {
      const done = this.stats.sent + this.stats.droppedTotal();
      if (done !== lastBeat) {
        lastBeat = done;
        this.heartbeat();
      }
    }, PROGRESS_MS);
    this.onClose('progress timer', () => clearInterval(progress));
    const st = setInterval(() => this.publishStats(false), this.cfg.reporter.interval_ms);
    this.onClose('timers', () => (clearInterval(hb), clearInterval(st)));
    this.heartbeat();
    this.log.info({ id: this.id, target: r.target, subject: subjects.replayer(job, this.id) }, 'replayer ready');
  }

  /**
   * A replayer started without `[replayer] target` (e.g. `havok replayer --job ID --nats URL`
   * on a new machine) takes the job's settings from the time wheel's status: target, headers,
   * removed headers and timeout. Waits until a time wheel of the job answers.
   */
  private async adoptJobSettings(): Promise<void> {
    this.log.info('no [replayer] target configured: waiting for the job\'s settings from its time wheel');
    const sub = this.nc.subscribe(subjects.status(this.cfg.job.id));
    try {
      for await (const msg of sub) {
        let settings;
        try {
          settings = decode(msg.data, 'status').replayer;
        } catch (err) {
          if (err instanceof ProtocolError) continue;
          throw err;
        }
        if (!settings?.target) continue;
        const r = this.cfg.replayer;
        r.target = settings.target;
        r.headers = { ...settings.headers, ...r.headers };
        r.remove_headers = [...new Set([...settings.remove_headers, ...r.remove_headers])];
        r.timeout_ms = settings.timeout_ms;
        this.rules = compileRules(r.headers, r.remove_headers);
        this.log.info({ target: r.target }, 'joined with the job\'s settings');
        return;
      }
    } finally {
      sub.unsubscribe();
    }
  }

  /** Leaves the membership, drops what is not yet sent, waits for in-flight requests. */
  protected async drain(reason: string): Promise<void> {
    if (!this.nc) return;
    this.state = REPLAYER_STATES.leaving;
    this.heartbeat();
    const rest = this.queue.takeAll();
    if (rest.length) {
      this.stats.drop('stopped', rest.length);
      this.log.warn({ records: rest.length, reason }, 'replayer stopping: queued records dropped');
    }
    if (this.inflight > 0) {
      // Bounded well inside the process's drain grace (10 s), so final stats always go out.
      const waitMs = Math.min(this.cfg.replayer.timeout_ms + 1000, DRAIN_WAIT_MS);
      this.log.info({ inflight: this.inflight, wait_ms: waitMs }, 'waiting for in-flight requests');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => (this.idle = r)),
        new Promise<void>((r) => (timer = setTimeout(r, waitMs))),
      ]);
      clearTimeout(timer);
      if (this.inflight > 0) this.log.warn({ inflight: this.inflight }, 'in-flight requests unanswered at exit (counted as sent, not completed)');
    }
    this.publishStats(true);
    await this.nc.flush().catch(() => undefined);
  }

  private accept(records: DueRecord[]): void {
    this.stats.received += records.length;
    if (this.state !== REPLAYER_STATES.up) {
      this.stats.drop('stopped', records.length);
      return;
    }
    if (this.queue.length + records.length > MAX_QUEUED) {
      this.stats.drop('overload', records.length);
      return;
    }
    this.queue.push(records);
  }

  /** Called by the queue when `rec` is due; false = no room now (the queue keeps it). */
  private trySend(rec: DueRecord, now: number): boolean {
    const maxLate = this.cfg.replayer.max_lateness_ms;
    if (maxLate > 0 && now - rec.due > maxLate) {
      this.stats.drop('late');
      return true;
    }
    if (this.inflight >= this.cfg.replayer.max_inflight) return false;
    this.inflight++;
    this.stats.sentAt(now - rec.due);
    void this.send(rec, now);
    return true;
  }

  private async send(rec: DueRecord, sentAt: number): Promise<void> {
    const req = buildRequest(rec, this.rules);
    let outcome: Outcome;
    try {
      const res = await this.pool.request({ method: req.method, path: req.path, headers: req.headers, body: req.body });
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      outcome = { status: res.statusCode, bytes };
    } catch (err) {
      outcome = { error: errorKind(err) };
    }
    const end = systemClock.now();
    this.stats.completed(rec.url, rec.api, outcome, end - sentAt, end - rec.due);
    this.inflight--;
    if (this.inflight === 0 && this.idle) this.idle();
    // A slot is free: anything held back by max_inflight can go now.
    if (this.queue.length) this.queue.pump();
  }

  private heartbeat(): void {
    if (this.nc.isClosed()) return;
    const r = this.cfg.replayer;
    this.nc.publish(
      subjects.heartbeat(this.cfg.job.id),
      encode({ ...envelope('heartbeat', this.sender), id: this.id, state: this.state, capacity: r.max_inflight, inflight: this.inflight, received: this.stats.received, sent: this.stats.sent, dropped: this.stats.droppedTotal() }),
    );
  }

  private publishStats(final: boolean): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(subjects.stats(this.cfg.job.id), encode({ ...envelope('stats', this.sender), ...this.stats.snapshot(this.id, final) }));
  }
}

/** Error kinds for the report, from undici's and Node's error codes (never message text). */
export function errorKind(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'timeout';
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') return 'reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (code.startsWith('ERR_TLS') || code.startsWith('CERT_') || code.includes('SSL')) return 'tls';
  return 'other';
}
