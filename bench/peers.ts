/**
 * The peer load generators the bench measures Havok against, in the same run and on the same
 * target: autocannon (in this process, a Node client with prebuilt requests), wrk (C, the
 * machine's HTTP floor) and hey (Go; `-q` paces each worker, the nearest peer to a timed replay).
 * wrk and hey are Debian packages (scripts/ensure-deps.sh bench); when one is missing its rows
 * say so instead of failing the bench.
 */
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

export interface AutocannonResult {
  rps: number;
  requests: number;
  duration_s: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  errors: number;
  non2xx: number;
}

export async function runAutocannon(url: string, connections: number, seconds: number, path = '/items/1?q=1'): Promise<AutocannonResult> {
  const r = await autocannon({ url: `${url}${path}`, connections, duration: seconds });
  return {
    rps: round(r.requests.total / r.duration),
    requests: r.requests.total,
    duration_s: round(r.duration, 3),
    latency_p50_ms: r.latency.p50,
    latency_p99_ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

/** Whether `bin` runs at all (on PATH or a path). */
export function available(bin: string): boolean {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore' });
  return !r.error;
}

export interface ToolRun {
  exit_code: number;
  stdout: string;
  stderr: string;
  wall_s: number;
}

async function runTool(bin: string, args: string[], track: (c: ChildProcess) => ChildProcess): Promise<ToolRun> {
  const t0 = performance.now();
  const proc = track(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-20_000)));
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  const [code, signal] = (await once(proc, 'close')) as [number | null, NodeJS.Signals | null];
  return { exit_code: code ?? (signal ? 128 : 1), stdout, stderr, wall_s: round((performance.now() - t0) / 1000, 3) };
}

export interface WrkResult extends ToolRun {
  /** wrk's own `Requests/sec`. */
  rps: number;
  requests: number;
}

/** `Requests/sec:  12345.67` and `N requests in …` from wrk's summary (0 when absent). */
export function parseWrk(out: string): { rps: number; requests: number } {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const req = /(\d+) requests in /.exec(out);
  return { rps: rps ? Number(rps[1]) : 0, requests: req ? Number(req[1]) : 0 };
}

/** wrk, 2 threads (one per core here), `connections` keep-alive connections, `seconds`. */
export async function runWrk(url: string, connections: number, seconds: number, track: (c: ChildProcess) => ChildProcess): Promise<WrkResult> {
  const r = await runTool('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, `${url}/wrk?q=0`], track);
  return { ...r, ...parseWrk(r.stdout) };
}

/** hey's default worker count; `-q` is per worker, so the rate is workers × q. */
export const HEY_WORKERS = 50;

/** hey -q: `rate`/s as HEY_WORKERS workers at rate / HEY_WORKERS each, for `seconds`. */
export async function runHey(url: string, rate: number, seconds: number, track: (c: ChildProcess) => ChildProcess): Promise<ToolRun> {
  const q = rate / HEY_WORKERS;
  return runTool('hey', ['-z', `${seconds}s`, '-c', String(HEY_WORKERS), '-q', String(q), `${url}/hey?q=0`], track);
}
