/**
 * The live progress display: a bar redrawn in place (cli-progress) when the output is a
 * terminal, plain periodic lines otherwise (CI logs, files, pipes). Both show the last
 * interval's lateness, so a replay that falls behind says so while it runs, not only in the
 * end report.
 */
import cliProgress from 'cli-progress';

export interface ProgressFigures {
  job: string;
  state: string;
  /** Log time, epoch ms (0 = not started). */
  position: number;
  sent: number;
  /** Requests expected in all, when known (every source read). */
  total: number | null;
  rps: number;
  p99: number;
  failed: number;
  dropped: number;
  /** Lateness p99 (send time minus due time) over the last interval, ms; absent when nothing was sent in it. */
  lateP99?: number;
  /** The last measured interval's lateness p99 was over `[reporter] lateness_warn_ms`. */
  behind?: boolean;
}

export interface ProgressView {
  update(f: ProgressFigures): void;
  stop(): void;
}

const pos = (ms: number): string => (ms > 0 ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-');

/** To 0.1 ms: the line is read by people; the end report keeps the µs. */
const late = (f: ProgressFigures): string => (f.lateP99 === undefined ? '-' : `${Math.round(f.lateP99 * 10) / 10} ms`);
const behind = (f: ProgressFigures): string => (f.behind ? ' BEHIND' : '');

export function plainLine(f: ProgressFigures): string {
  // Without a measurement and not behind there is nothing to say about lateness (an idle interval).
  const lateness = f.lateP99 !== undefined || f.behind ? `  late p99 ${late(f)}${behind(f)}` : '';
  return `[${f.job}] ${f.state}  log ${pos(f.position)}  sent ${f.sent}${f.total !== null ? `/${f.total}` : ''}  ${Math.round(f.rps)} req/s  p99 ${f.p99} ms${lateness}  failed ${f.failed}  dropped ${f.dropped}`;
}

export function createProgressView(out: NodeJS.WritableStream & { isTTY?: boolean }): ProgressView {
  if (!out.isTTY) {
    return { update: (f) => void out.write(plainLine(f) + '\n'), stop: () => undefined };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: out as NodeJS.WriteStream,
      format: '{job} {state} [{bar}] {percentage}% | log {position} | sent {value}/{total} | {rps} req/s | p99 {p99} ms | late p99 {late}{behind} | failed {failed} dropped {dropped}',
      hideCursor: true,
      clearOnComplete: false,
      barsize: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(f) {
      const payload = { job: f.job, state: f.state, position: pos(f.position), rps: Math.round(f.rps), p99: f.p99, late: late(f), behind: behind(f), failed: f.failed, dropped: f.dropped };
      // Until every source is read the total is unknown; show what has been released so far.
      const total = Math.max(f.total ?? f.sent, f.sent, 1);
      if (!started) {
        bar.start(total, f.sent, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(f.sent, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
