/**
 * Memory benchmark (issue 5, issue 9): peak RSS of every actor on an untimed replay of a large
 * generated log (5,000,000 lines; 1,000,000 with `--quick`).
 *
 * Unlike `havok local`, each actor is spawned here as its own process, so its pid is known:
 *   node <dir>/havok.js reporter|router|replayer --id bench-0|timewheel|fetcher --config <toml>
 * where <dir>/havok.js is a one-line launcher importing <dist>/cli/main.js, <dist> being the
 * build this file was compiled into (dist/ or dist-mem/): the script is named havok.js so that
 * bench/cpu.ts files each process's CPU under its actor's name. The job is untimed
 * (`speed = 1e6`, `max_idle_ms = 1`: every record due at once), so flow control — the stream's cap
 * and `[job] max_backlog` — is all that bounds what each actor holds.
 *
 * Two measurements per actor:
 *  - `/proc/<pid>/status` every SAMPLE_MS until the reporter exits (and the others after it):
 *    VmHWM (the kernel's peak resident set, so a spike between samples is not missed) and VmRSS;
 *  - a preload (`NODE_OPTIONS=--import=data:…`) in each actor that appends `process.memoryUsage()` once a
 *    second and, at exit, `process.resourceUsage().maxRSS` (the same peak as VmHWM, taken after
 *    the last sample could be) to a JSONL file: heap vs. external vs. array buffers tells *what*
 *    grew when an actor goes over.
 * The peak reported is the larger of the two. nats-server and the bench target are sampled too,
 * for information (no limit applies to them).
 */
import { actorNodeFlags } from '../services/local/local.js';
import { loadConfig } from '../shared/config.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EndReport } from '../services/reporter/report.js';
import { generateLog } from './generate-log.js';
import { benchJobToml } from './job-config.js';

/** The CLI of the same build as this file: running it imports main() and runs it. */
const MAIN_JS = fileURLToPath(new URL('../cli/main.js', import.meta.url));
export const RSS_LIMIT_MB = 150;
export const SAMPLE_MS = 200;
/** Log lines per second of log time: high, and in ms timestamps (JSONL); untimed anyway. */
export const MEMORY_LOG_RATE = 50_000;
const MB = 1024 * 1024;

export const ACTORS = ['reporter', 'router', 'replayer', 'timewheel', 'fetcher'] as const;
export type ActorName = (typeof ACTORS)[number];

/**
 * Preloaded into each actor: memoryUsage() every second and maxRSS at exit, as JSON lines, to
 * $HAVOK_BENCH_MEM_FILE. appendFileSync of ~150 bytes a second is no load; the timer is unref'd,
 * so it never keeps an actor alive.
 */
const HOOK_SRC = `
import { appendFileSync } from 'node:fs';
const file = process.env.HAVOK_BENCH_MEM_FILE;
if (file) {
  const snap = (final) => {
    try {
      const m = process.memoryUsage();
      appendFileSync(file, JSON.stringify({ t: Date.now(), rss: m.rss, heap_total: m.heapTotal, heap_used: m.heapUsed, external: m.external, array_buffers: m.arrayBuffers, max_rss: process.resourceUsage().maxRSS * 1024, final }) + '\\n');
    } catch {}
  };
  setInterval(snap, 1000).unref();
  process.on('exit', () => snap(true));
}
`;
const HOOK = `data:text/javascript,${encodeURIComponent(HOOK_SRC)}`;
const nodeOptions = (extra?: string): string => [process.env.NODE_OPTIONS, `--import=${HOOK}`, extra].filter(Boolean).join(' ');

export interface MemoryTarget {
  url: string;
  reset(): Promise<void>;
  stats(): Promise<{ count: number; first_at: number; last_at: number }>;
}

export interface MemoryContext {
  /** Scratch dir for the log, config, report and trace files. */
  dir: string;
  natsUrl: string;
  natsPid?: number;
  target: MemoryTarget;
  targetPid?: number;
  /** Registers a child so the caller kills it on exit or Ctrl-C. */
  track(c: ChildProcess): ChildProcess;
  log(msg: string): void;
}

export interface MemoryOptions {
  lines: number;
  ratePerSec?: number;
  /** Job id (a fresh one per run: each run's streams are its own). */
  jobId?: string;
  /**
   * Extra Node flags for every actor (NODE_OPTIONS), for experiments: `--max-old-space-size=64`,
   * `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=/tmp/x`… Job keys can be changed the usual
   * way, through HAVOK_<SECTION>_<KEY> in the bench's environment (e.g. HAVOK_JOB_MAX_BUFFER).
   */
  nodeOptions?: string;
}

/** Bytes, as the /proc sampler and the preload saw them. */
export interface ProcessMemory {
  name: string;
  pid: number;
  /** max(VmHWM sampled, maxRSS at exit): the figure compared with the limit. */
  peak_rss_mb: number;
  /** The last VmHWM read from /proc. */
  hwm_sampled_mb: number;
  /** process.resourceUsage().maxRSS at exit (actors only; absent if it was killed). */
  max_rss_at_exit_mb?: number;
  /** Seconds after the actors were started when VmHWM first read its final value. */
  peak_at_s: number;
  /** VmRSS at the last sample before exit. */
  rss_last_mb: number;
  /** Highest values of process.memoryUsage() seen (actors only). */
  heap_used_max_mb?: number;
  heap_total_max_mb?: number;
  external_max_mb?: number;
  array_buffers_max_mb?: number;
  /** One limit for the actors; none for nats-server and the target. */
  limit_mb?: number;
  ok?: boolean;
  exit_code?: number | null;
  /** VmRSS, MB, one value per second of the run. */
  rss_per_s: number[];
}

export interface MemoryResult {
  lines: number;
  log_rate: number;
  log_bytes: number;
  limit_mb: number;
  sample_ms: number;
  wall_s: number;
  /** requests.sent / report duration_s. */
  records_per_s: number;
  /** lines / wall clock from spawning the actors to the reporter's exit. */
  records_per_s_wall: number;
  target: { count: number; span_s: number; rate_rps: number };
  actors: ProcessMemory[];
  others: ProcessMemory[];
  all_under_limit: boolean;
  accounting: { records_close: boolean; requests_close: boolean; dropped: number; dropped_by_reason: Record<string, number>; unaccounted: number; expected: number; sent: number } | undefined;
  report?: EndReport;
  failures: string[];
  summary: string;
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
/** A wait that does not keep the bench alive (the children's pipes do while they run). */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** VmHWM and VmRSS in bytes, or undefined once the process is gone. */
export function readProcMemory(pid: number): { hwm: number; rss: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  // A zombie (exited, not yet reaped) has no memory lines: treat it as gone.
  if (!/^VmRSS:/m.test(text)) return undefined;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

class Sampler {
  hwm = 0;
  rssLast = 0;
  peakAtMs = 0;
  perSecond: number[] = [];
  constructor(
    readonly name: string,
    readonly pid: number,
    private readonly t0: number,
  ) {}
  sample(now: number): boolean {
    const m = readProcMemory(this.pid);
    if (!m) return false;
    if (m.hwm > this.hwm) {
      this.hwm = m.hwm;
      this.peakAtMs = now - this.t0;
    }
    this.rssLast = m.rss;
    const s = Math.floor((now - this.t0) / 1000);
    this.perSecond[s] = Math.max(this.perSecond[s] ?? 0, round(m.rss / MB));
    return true;
  }
}

interface TraceLine {
  t: number;
  rss: number;
  heap_total: number;
  heap_used: number;
  external: number;
  array_buffers: number;
  max_rss: number;
  final?: boolean;
}

function readTrace(path: string): TraceLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as TraceLine];
      } catch {
        return [];
      }
    });
}


interface Spawned {
  name: ActorName;
  proc: ChildProcess;
  exited: Promise<number | null>;
  trace: string;
  sampler: Sampler;
  stderr: string;
}

export async function runMemory(ctx: MemoryContext, o: MemoryOptions): Promise<MemoryResult> {
  const rate = o.ratePerSec ?? MEMORY_LOG_RATE;
  const jobId = o.jobId ?? `bench-memory-${o.lines}`;
  const logPath = join(ctx.dir, `memory-${o.lines}.jsonl`);
  const reportPath = join(ctx.dir, `memory-${o.lines}-report.json`);
  const configPath = join(ctx.dir, `memory-${o.lines}.toml`);
  const failures: string[] = [];

  const g0 = performance.now();
  const gen = await generateLog(logPath, { lines: o.lines, ratePerSec: rate });
  ctx.log(`memory: generated ${o.lines.toLocaleString('en-US')} JSONL lines (${round(gen.bytes / MB)} MB, ${rate}/s of log time) in ${round((performance.now() - g0) / 1000, 1)} s`);
  const launcher = join(ctx.dir, 'havok.js');
  writeFileSync(launcher, `import ${JSON.stringify(pathToFileURL(MAIN_JS).href)};\n`);
  writeFileSync(configPath, benchJobToml({ jobId, logPath, targetUrl: ctx.target.url, natsUrl: ctx.natsUrl, reportPath, speed: 1_000_000, maxIdleMs: 1 }));
  rmSync(reportPath, { force: true });
  await ctx.target.reset();

  const t0 = Date.now();
  const spawned: Spawned[] = [];
  const spawnActor = (name: ActorName, extra: string[]): Spawned => {
    const trace = join(ctx.dir, `memory-${o.lines}-${name}.mem.jsonl`);
    rmSync(trace, { force: true });
    const proc = ctx.track(
      // The same Node flags `havok local` gives each actor (unless --actor-node-options is set).
      spawn(process.execPath, [...(o.nodeOptions ? [] : actorNodeFlags(name, loadConfig({ file: configPath }))), launcher, name, ...extra, '--config', configPath], {
        env: { ...process.env, NODE_OPTIONS: nodeOptions(o.nodeOptions), HAVOK_LOG_LEVEL: 'warn', HAVOK_BENCH_MEM_FILE: trace },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const s: Spawned = {
      name,
      proc,
      trace,
      exited: new Promise((resolve) => proc.once('exit', (code, sig) => resolve(code ?? (sig ? 128 : null)))),
      sampler: new Sampler(name, proc.pid ?? -1, t0),
      stderr: '',
    };
    proc.stdout!.on('data', (d: Buffer) => (s.stderr = (s.stderr + d.toString()).slice(-8000)));
    proc.stderr!.on('data', (d: Buffer) => (s.stderr = (s.stderr + d.toString()).slice(-8000)));
    spawned.push(s);
    return s;
  };
  // Consumers first, as `havok local` does, so nothing is published before someone listens.
  const reporter = spawnActor('reporter', []);
  spawnActor('router', []);
  spawnActor('replayer', ['--id', 'bench-0']);
  spawnActor('timewheel', []);
  spawnActor('fetcher', []);
  const others = [
    ...(ctx.natsPid ? [new Sampler('nats-server', ctx.natsPid, t0)] : []),
    ...(ctx.targetPid ? [new Sampler('target', ctx.targetPid, t0)] : []),
  ];
  ctx.log(`memory: actors started (${spawned.map((s) => `${s.name} ${s.proc.pid}`).join(', ')}); sampling /proc every ${SAMPLE_MS} ms`);

  const sampleAll = (): void => {
    const now = Date.now();
    for (const s of spawned) s.sampler.sample(now);
    for (const s of others) s.sample(now);
  };
  sampleAll();
  const timer = setInterval(sampleAll, SAMPLE_MS);
  // Progress in the bench's log every 10 s: the figures so far.
  const progress = setInterval(() => {
    ctx.log(`memory: ${Math.round((Date.now() - t0) / 1000)} s: RSS MB ${spawned.map((s) => `${s.name} ${round(s.sampler.rssLast / MB)} (peak ${round(s.sampler.hwm / MB)})`).join(', ')}`);
  }, 10_000);

  // The reporter ends the job; an actor failing first ends it too. Generous limit: 5k records/s.
  const limitMs = (o.lines / 5000 + 120) * 1000;
  let timedOut = false;
  let firstFailure: Spawned | undefined;
  const failed = new Promise<void>((resolve) => {
    for (const s of spawned) {
      if (s === reporter) continue;
      void s.exited.then((code) => {
        if (code !== 0 && !firstFailure) {
          firstFailure = s;
          resolve();
        }
      });
    }
  });
  const timeout = sleep(limitMs).then(() => {
    timedOut = true;
  });
  await Promise.race([reporter.exited, failed, timeout]);
  const failedFirst = firstFailure;
  const wallS = (Date.now() - t0) / 1000;
  // The others close on the reporter's `ended`: keep sampling until they have, 15 s at most.
  const rest = Promise.all(spawned.map((s) => s.exited));
  const settled = await Promise.race([rest.then(() => true), sleep(timedOut || failedFirst ? 0 : 15_000).then(() => false)]);
  clearInterval(timer);
  clearInterval(progress);
  if (!settled) {
    for (const s of spawned) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
    const hard = setTimeout(() => spawned.forEach((s) => s.proc.exitCode === null && s.proc.signalCode === null && s.proc.kill('SIGKILL')), 5000);
    await rest;
    clearTimeout(hard);
  }
  // Exit codes as they stand (a process killed above reports 128).
  const exitCodes = await Promise.all(spawned.map((s) => s.exited));

  if (timedOut) failures.push(`memory ${o.lines}: no end after ${limitMs / 1000} s`);
  if (failedFirst) failures.push(`memory ${o.lines}: ${failedFirst.name} exited with ${failedFirst.proc.exitCode ?? failedFirst.proc.signalCode} before the reporter; its output:\n${failedFirst.stderr.slice(-2000)}`);
  spawned.forEach((s, k) => {
    if (exitCodes[k] !== 0 && s !== failedFirst) failures.push(`memory ${o.lines}: ${s.name} exited with ${exitCodes[k]}; its output:\n${s.stderr.slice(-1500)}`);
  });

  const actors: ProcessMemory[] = spawned.map((s, k) => {
    const trace = readTrace(s.trace);
    const final = trace.find((t) => t.final);
    const maxOf = (key: keyof TraceLine): number | undefined => (trace.length ? round(Math.max(...trace.map((t) => Number(t[key]))) / MB) : undefined);
    const atExit = final ? final.max_rss : undefined;
    const peak = Math.max(s.sampler.hwm, atExit ?? 0);
    const peakMb = round(peak / MB);
    return {
      name: s.name,
      pid: s.sampler.pid,
      peak_rss_mb: peakMb,
      hwm_sampled_mb: round(s.sampler.hwm / MB),
      max_rss_at_exit_mb: atExit === undefined ? undefined : round(atExit / MB),
      peak_at_s: round(s.sampler.peakAtMs / 1000),
      rss_last_mb: round(s.sampler.rssLast / MB),
      heap_used_max_mb: maxOf('heap_used'),
      heap_total_max_mb: maxOf('heap_total'),
      external_max_mb: maxOf('external'),
      array_buffers_max_mb: maxOf('array_buffers'),
      limit_mb: RSS_LIMIT_MB,
      ok: peak > 0 && peakMb < RSS_LIMIT_MB,
      exit_code: exitCodes[k],
      rss_per_s: fill(s.sampler.perSecond),
    };
  });
  const otherMem: ProcessMemory[] = others.map((s) => ({
    name: s.name,
    pid: s.pid,
    peak_rss_mb: round(s.hwm / MB),
    hwm_sampled_mb: round(s.hwm / MB),
    peak_at_s: round(s.peakAtMs / 1000),
    rss_last_mb: round(s.rssLast / MB),
    rss_per_s: fill(s.perSecond),
  }));
  for (const a of actors) {
    if (a.peak_rss_mb === 0) failures.push(`memory ${o.lines}: no memory figure for ${a.name}`);
    else if (!a.ok) failures.push(`memory ${o.lines}: ${a.name} peak RSS ${a.peak_rss_mb} MB ≥ ${RSS_LIMIT_MB} MB`);
  }

  let report: EndReport | undefined;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8')) as EndReport;
  } catch {
    failures.push(`memory ${o.lines}: no end report written`);
  }
  const ts = await ctx.target.stats();
  await ctx.target.reset();
  const span = (ts.last_at - ts.first_at) / 1000;
  const target = { count: ts.count, span_s: round(span, 3), rate_rps: ts.count > 1 && span > 0 ? round((ts.count - 1) / span) : 0 };
  let accounting: MemoryResult['accounting'];
  if (report) {
    const q = report.requests;
    accounting = {
      records_close: report.accounting.records_close,
      requests_close: report.accounting.requests_close,
      dropped: q.dropped,
      dropped_by_reason: q.dropped_by_reason,
      unaccounted: q.unaccounted,
      expected: q.expected,
      sent: q.sent,
    };
    if (!report.accounting.records_close) failures.push(`memory ${o.lines}: records accounting does not close (${JSON.stringify(report.records)})`);
    if (!report.accounting.requests_close) failures.push(`memory ${o.lines}: requests accounting does not close (expected ${q.expected}, sent ${q.sent}, dropped ${q.dropped}, unaccounted ${q.unaccounted})`);
    if (q.dropped !== 0) failures.push(`memory ${o.lines}: ${q.dropped} dropped (${JSON.stringify(q.dropped_by_reason)})`);
    if (report.records.read !== o.lines) failures.push(`memory ${o.lines}: ${report.records.read} records read of ${o.lines} lines`);
    if (q.expected !== o.lines) failures.push(`memory ${o.lines}: ${q.expected} requests expected, not ${o.lines}`);
    if (q.failed > 0) failures.push(`memory ${o.lines}: ${q.failed} requests failed (${JSON.stringify(report.by_error)})`);
    if (ts.count !== q.sent) failures.push(`memory ${o.lines}: the target served ${ts.count} requests, the report says ${q.sent} sent`);
  }
  const recordsPerS = report ? round(report.requests.sent / report.duration_s) : 0;
  const out = reporter.stderr;
  const at = out.lastIndexOf('havok job ');
  const result: MemoryResult = {
    lines: o.lines,
    log_rate: rate,
    log_bytes: gen.bytes,
    limit_mb: RSS_LIMIT_MB,
    sample_ms: SAMPLE_MS,
    wall_s: round(wallS, 3),
    records_per_s: recordsPerS,
    records_per_s_wall: round(o.lines / wallS),
    target,
    actors,
    others: otherMem,
    all_under_limit: actors.every((a) => a.ok),
    accounting,
    report: report ? { ...report, timeline: undefined } : undefined,
    failures,
    summary: at >= 0 ? out.slice(at).trimEnd() : out.slice(-1500).trimEnd(),
  };
  rmSync(logPath, { force: true });
  return result;
}

/** Seconds with no sample (a stalled sampler) carry the previous value. */
function fill(perSecond: number[]): number[] {
  const out: number[] = [];
  let last = 0;
  for (let i = 0; i < perSecond.length; i++) out.push((last = perSecond[i] ?? last));
  return out;
}

/** actor | peak RSS MB | limit 150 MB | ok, then nats-server and the target for information. */
export function memoryTable(r: MemoryResult): string {
  const rows: string[][] = [
    ['actor', 'peak RSS MB', `limit ${RSS_LIMIT_MB} MB`, 'ok', 'peak at s', 'heap used max MB', 'external max MB', 'last RSS MB'],
  ];
  const mb = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(1));
  for (const a of r.actors) rows.push([a.name, mb(a.peak_rss_mb), String(RSS_LIMIT_MB), a.ok ? 'ok' : 'OVER', String(a.peak_at_s), mb(a.heap_used_max_mb), mb(a.external_max_mb), mb(a.rss_last_mb)]);
  for (const a of r.others) rows.push([`(${a.name})`, mb(a.peak_rss_mb), '—', '—', String(a.peak_at_s), '—', '—', mb(a.rss_last_mb)]);
  const width = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]): string => `| ${row.map((cell, c) => cell.padEnd(width[c])).join(' | ')} |`;
  return [line(rows[0]), `| ${width.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.slice(1).map(line)].join('\n');
}

/** One line: throughput and accounting. */
export function memorySummary(r: MemoryResult): string {
  const a = r.accounting;
  const n = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: 0 });
  const acc = a
    ? `accounting ${a.records_close && a.requests_close ? 'closes' : 'DOES NOT CLOSE'}: expected ${n(a.expected)}, sent ${n(a.sent)}, dropped ${n(a.dropped)}${a.dropped ? ` ${JSON.stringify(a.dropped_by_reason)}` : ''}, unaccounted ${n(a.unaccounted)}`
    : 'no report';
  return `${n(r.lines)} lines untimed: ${n(r.records_per_s)} records/s (report), ${n(r.records_per_s_wall)} records/s over the ${r.wall_s} s wall clock; target saw ${n(r.target.count)} at ${n(r.target.rate_rps)} req/s; ${acc}`;
}
