/**
 * The reporter listens to replayer stats, the time wheel's status and the router's counters,
 * prints a live progress line, and when the job is over (every expected request sent or dropped,
 * and answered, or `settle_ms` without progress) writes the end report and announces the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { percentilesMs } from '../../shared/histogram.js';
import { Lease } from '../../shared/lease/lease.js';
import { Actor } from '../../shared/lifecycle.js';
import { observeLatency, observeRequests, observeRouter, observeStatus } from '../../shared/metrics.js';
import type { Logger } from '../../shared/log.js';
import { decodeOn, encode, envelope, JOB_STATES, subjects, type RouterMsg, type StatusMsg } from '../../shared/protocol.js';
import { StatsMerger, sumValues, type IntervalStats } from './merge.js';
import { htmlPathFor, renderHtml } from './html.js';
import { InfluxSink } from './influx.js';
import { LAG_START, lagVerdict, type LagState } from './lag.js';
import { intervalPoints } from './points.js';
import { createProgressView, type ProgressView } from './progress.js';
import { account } from './accounting.js';
import { buildReport, formatSummary, statusClasses, type EndReport } from './report.js';
import { Timeline } from './timeline.js';
import { buildDiffReport, diffExitCode, formatDiffSummary } from '../diff/report.js';

export interface ReporterOptions {
  /** Where progress lines and the summary go (stdout by default). */
  out?: NodeJS.WritableStream;
  /** Progress lines off (the summary is still printed). */
  quiet?: boolean;
}

export class Reporter extends Actor {
  private nc!: NatsConnection;
  private readonly merger = new StatsMerger();
  private status?: StatusMsg;
  private router?: RouterMsg;
  private lastProgressAt = Date.now();
  private lastAccounted = -1;
  private lastSent = 0;
  private report?: EndReport;
  private influx?: InfluxSink;
  /** Every interval's counts and histograms, in at most MAX_TIMELINE_POINTS buckets, for the report's charts. */
  private readonly timeline = new Timeline();
  private lastFailed = 0;
  /** Whether the replay is behind by `lateness_warn_ms`, and when that was last logged. */
  private lag: LagState = LAG_START;
  private readonly sender = `reporter-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private lease!: Lease;
  /** True once this process holds the reporter lease. */
  private active = false;
  private readonly out: NodeJS.WritableStream;
  private readonly view: ProgressView;

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
    private readonly opts: ReporterOptions = {},
  ) {
    super(log);
    this.out = opts.out ?? process.stdout;
    this.view = createProgressView(this.out);
  }

  /** The end report once written. */
  get result(): EndReport | undefined {
    return this.report;
  }

  protected async run(signal: AbortSignal): Promise<void> {
    const job = this.cfg.job.id;
    this.nc = await connectBus(this.cfg.nats, this.log, { name: this.sender, signal: this.signal });
    this.onClose('nats', () => this.nc.drain());
    this.lease = new Lease({ nc: this.nc, job, role: 'reporter', holder: this.sender, log: this.log, replicas: this.cfg.nats.stream_replicas });
    this.lease.onLost(() => this.finish(1, 'another reporter is active for the job'));
    const handle = (fn: (data: Uint8Array) => void) => (_err: Error | null, msg: { data: Uint8Array }) => this.guard(() => fn(msg.data));
    // The end is also checked when counts arrive, not only on the next tick: the report's
    // duration (and so its throughput) ends with the last answer, not up to a tick later.
    this.nc.subscribe(subjects.stats(job), {
      callback: handle((d) => {
        this.merger.add(decodeOn('stats', d));
        this.checkDone();
      }),
    });
    this.nc.subscribe(subjects.status(job), { callback: handle((d) => (this.status = decodeOn('status', d))) });
    this.nc.subscribe(subjects.router(job), {
      callback: handle((d) => {
        this.router = decodeOn('router', d);
        this.checkDone();
      }),
    });
    const influx = this.cfg.reporter.influxdb;
    if (influx?.url) {
      this.influx = new InfluxSink({ url: influx.url, database: influx.database ?? 'havok', user: influx.user, password: influx.password }, this.log);
      this.log.info({ url: influx.url, database: influx.database ?? 'havok' }, 'writing to InfluxDB');
    }
    // A standby merges everything from the start (counters are cumulative per life, histograms
    // arrive once per interval), so on takeover it holds what the active one held.
    this.nc.subscribe(subjects.ended(job), {
      callback: handle((d) => {
        if (decodeOn('ended', d).job === job && !this.active) this.finish(0, 'job ended');
      }),
    });
    const tick = setInterval(() => this.tick(), this.cfg.reporter.interval_ms);
    this.onClose('tick', () => clearInterval(tick));
    void this.lease
      .acquire(signal)
      .then(() => {
        this.active = true;
        this.onClose('lease', () => this.lease.release());
      })
      .catch(() => undefined);
  }

  /** Fencing: only the reporter holding the lease prints, writes InfluxDB and the report. */
  private owner(): boolean {
    return this.active && this.lease.isOwner();
  }

  /**
   * Stopped before the job ended (Ctrl-C, SIGTERM): write what is known, so an interrupted run
   * still has its report — unless the job never started (nothing half-reported).
   */
  protected async drain(): Promise<void> {
    if (!this.report && this.owner() && this.status && this.status.state !== JOB_STATES.pending) await this.writeReport();
  }

  /** One interval's points to InfluxDB (in the background). */
  private emitInterval(interval: IntervalStats = this.merger.takeInterval()): void {
    const t = this.merger.totals();
    this.timeline.add(Date.now(), interval.sent, t.failed - this.lastFailed, interval.latency, interval.lateness);
    this.lastFailed = t.failed;
    if (!this.influx || !this.owner()) return;
    this.influx.write(
      intervalPoints(this.cfg.job.id, Date.now(), this.cfg.reporter.interval_ms, interval, { sent: t.sent, failed: t.failed, dropped: sumValues(t.dropped_by_reason), bytes_sent: t.bytes_sent, bytes_received: t.bytes_received, by_status_class: statusClasses(t.by_status), by_error: t.by_error }, this.router?.replayers ?? []),
    );
  }

  private tick(): void {
    if (this.report) return;
    // Taken once: the live view and InfluxDB see the same interval.
    const interval = this.merger.takeInterval();
    this.observeMetrics(interval);
    if (this.owner()) {
      const lateP99 = interval.lateness.totalCount > 0 ? percentilesMs(interval.lateness).p99 : undefined;
      this.checkLag(lateP99);
      this.progress(lateP99);
    }
    this.emitInterval(interval);
    this.checkDone();
  }

  /** The job's figures for /metrics, once an interval (shared/metrics.ts). */
  private observeMetrics(interval: IntervalStats): void {
    const job = this.cfg.job.id;
    if (this.status) observeStatus(this.status);
    if (this.router) observeRouter(job, this.router);
    observeRequests(job, 'job', this.merger.totals());
    observeLatency(job, interval.latency, interval.lateness);
  }

  /** Logs when the replay falls behind (rate-limited in lagVerdict); also with `quiet`, it is a log, not progress. */
  private checkLag(lateP99: number | undefined): void {
    const threshold = this.cfg.reporter.lateness_warn_ms;
    const { state, warn } = lagVerdict(this.lag, lateP99, threshold, Date.now());
    this.lag = state;
    if (warn) this.log.warn({ lateness_p99_ms: lateP99, threshold_ms: threshold }, `replay is falling behind: lateness p99 ${lateP99} ms over the last interval (threshold ${threshold} ms)`);
  }

  /** Writes the report once every expected request is accounted for (or settle_ms passed). */
  private checkDone(): void {
    const s = this.status;
    if (!s || (s.state !== JOB_STATES.finished && s.state !== JOB_STATES.stopped) || this.report || !this.owner()) return;
    const { expected, accounted, complete } = account({ status: s, router: this.router, lives: this.merger.replayers(), totals: this.merger.totals(), settled: false });
    if (accounted !== this.lastAccounted) {
      this.lastAccounted = accounted;
      this.lastProgressAt = Date.now();
    }
    const stalled = Date.now() - this.lastProgressAt > this.cfg.reporter.settle_ms;
    if (complete || stalled) {
      if (!complete) this.log.warn({ expected, accounted }, 'no progress for settle_ms; writing the report with what is known');
      void this.writeReport(!complete);
    }
  }

  private async writeReport(settled = false): Promise<void> {
    const report: EndReport = buildReport(this.status!, this.router, this.merger, Date.now(), settled, this.cfg.reporter);
    if (this.cfg.diff) report.diff = buildDiffReport(this.merger.diff, this.cfg.diff);
    this.report = report;
    // The last interval goes out before the report, so InfluxDB and the report agree.
    this.emitInterval();
    report.timeline = this.timeline.points();
    if (this.influx) {
      await this.influx.flush(5000);
      report.influxdb = { ...this.influx.counters };
    }
    const path = this.cfg.reporter.json;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
    } catch (err) {
      this.log.error({ err, path }, 'could not write the end report');
    }
    let htmlPath: string | undefined = htmlPathFor(path);
    try {
      writeFileSync(htmlPath, renderHtml(report));
    } catch (err) {
      this.log.error({ err, path: htmlPath }, 'could not write the HTML report');
      htmlPath = undefined;
    }
    this.view.stop();
    this.out.write(formatSummary(report, path, htmlPath) + (report.diff ? formatDiffSummary(report.diff) + '\n\n' : '\n'));
    const ok = report.accounting.records_close && report.accounting.requests_close;
    const exitCode = ok ? diffExitCode(report.diff, this.cfg.diff) : 1;
    this.nc.publish(subjects.ended(this.cfg.job.id), encode({ ...envelope('ended', this.sender), job: this.cfg.job.id, exit_code: exitCode }));
    this.log.info({ path, exit_code: exitCode }, 'end report written');
    this.finish(exitCode, 'report written');
  }

  private progress(lateP99: number | undefined): void {
    if (this.opts.quiet) return;
    const s = this.status;
    const t = this.merger.totals();
    const rps = ((t.sent - this.lastSent) * 1000) / this.cfg.reporter.interval_ms;
    this.lastSent = t.sent;
    const allRead = s !== undefined && s.sources > 0 && s.sources_ended >= s.sources;
    this.view.update({
      job: this.cfg.job.id,
      state: s?.state ?? 'waiting',
      position: s?.position ?? 0,
      sent: t.sent,
      // Once every source is read, what is left is known: released + still waiting × rate.
      total: allRead && s ? s.copies + s.never_sent + Math.floor((s.pending ?? 0) * s.rate) : null,
      rps,
      p99: percentilesMs(this.merger.latency).p99,
      failed: t.failed,
      dropped: sumValues(t.dropped_by_reason),
      lateP99,
      behind: this.lag.behind,
    });
  }

}
