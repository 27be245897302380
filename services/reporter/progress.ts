/**
 * The live progress display: a bar redrawn in place (cli-progress) when the output is a
 * terminal, plain periodic lines otherwise (CI logs, files, pipes).
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
}

export interface ProgressView {
  update(f: ProgressFigures): void;
  stop(): void;
}

const pos = (ms: number): string => (ms > 0 ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-');

export function plainLine(f: ProgressFigures): string {
  return `[${f.job}] ${f.state}  log ${pos(f.position)}  sent ${f.sent}${f.total !== null ? `/${f.total}` : ''}  ${Math.round(f.rps)} req/s  p99 ${f.p99} ms  failed ${f.failed}  dropped ${f.dropped}`;
}

export function createProgressView(out: NodeJS.WritableStream & { isTTY?: boolean }): ProgressView {
  if (!out.isTTY) {
    return { update: (f) => void out.write(plainLine(f) + '\n'), stop: () => undefined };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: out as NodeJS.WriteStream,
      format: '{job} {state} [{bar}] {percentage}% | log {position} | sent {value}/{total} | {rps} req/s | p99 {p99} ms | failed {failed} dropped {dropped}',
      hideCursor: true,
      clearOnComplete: false,
      barsize: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(f) {
      const payload = { job: f.job, state: f.state, position: pos(f.position), rps: Math.round(f.rps), p99: f.p99, failed: f.failed, dropped: f.dropped };
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
