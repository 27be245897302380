/**
 * InfluxDB 1.x output (the `influx` package): one batch of points per reporter interval, written
 * in the background with ms precision. The database is created if missing. A failed write is
 * retried with the next batch (up to a bounded backlog of points) and counted; it never blocks
 * the replay or the report.
 *
 * Measurements (tag `job` on all):
 * - `havok_requests`: sent, failed, dropped, bytes_sent, bytes_received, status_2xx…status_5xx,
 *   error_<kind> (running totals), interval_sent, rps, p50/p90/p99/max latency of the interval
 *   (ms), lateness_p99_ms, latency_from_due_p99_ms.
 * - `havok_api` (tag `api`): count, failed, p50/p90/p99/max latency (ms), for the interval.
 * - `havok_replayer` (tag `replayer`): sent (running total), rps, inflight.
 */
import { InfluxDB, type IPoint } from 'influx';
import type { Logger } from '../../shared/log.js';

/** Points kept for retry while InfluxDB is unreachable; older ones are dropped (and counted). */
const MAX_BACKLOG_POINTS = 50_000;

export interface InfluxSettings {
  url: string;
  database: string;
  user?: string;
  password?: string;
}

export interface InfluxCounters {
  points_written: number;
  write_errors: number;
  points_dropped: number;
  last_error?: string;
}

export class InfluxSink {
  private readonly client: InfluxDB;
  private backlog: IPoint[] = [];
  private writing?: Promise<void>;
  private dbReady = false;
  readonly counters: InfluxCounters = { points_written: 0, write_errors: 0, points_dropped: 0 };

  constructor(
    private readonly settings: InfluxSettings,
    private readonly log: Logger,
  ) {
    const u = new URL(settings.url);
    this.client = new InfluxDB({
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 8086)),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      database: settings.database,
      ...(settings.user ? { username: settings.user } : {}),
      ...(settings.password ? { password: settings.password } : {}),
      pool: { maxRetries: 0, requestTimeout: 5000 },
    });
  }

  /** Queues points and starts a write unless one is under way (the next call picks them up). */
  write(points: IPoint[]): void {
    this.backlog.push(...points);
    if (this.backlog.length > MAX_BACKLOG_POINTS) {
      const excess = this.backlog.length - MAX_BACKLOG_POINTS;
      this.backlog.splice(0, excess);
      this.counters.points_dropped += excess;
    }
    this.writing ??= this.flushOnce().finally(() => (this.writing = undefined));
  }

  /** Waits for the current write, then writes whatever is left once more (end of the job). */
  async flush(timeoutMs: number): Promise<void> {
    const deadline = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([(async () => {
      await this.writing;
      if (this.backlog.length) await this.flushOnce();
    })(), deadline]);
  }

  private async flushOnce(): Promise<void> {
    const batch = this.backlog;
    if (batch.length === 0) return;
    this.backlog = [];
    try {
      if (!this.dbReady) {
        const names = await this.client.getDatabaseNames();
        if (!names.includes(this.settings.database)) await this.client.createDatabase(this.settings.database);
        this.dbReady = true;
      }
      await this.client.writePoints(batch, { precision: 'ms' });
      this.counters.points_written += batch.length;
    } catch (err) {
      this.counters.write_errors++;
      this.counters.last_error = (err as Error).message;
      this.backlog = [...batch, ...this.backlog];
      this.log.warn({ err: (err as Error).message, url: this.settings.url, points: batch.length }, 'InfluxDB write failed; will retry with the next batch');
    }
  }
}
