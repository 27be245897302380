/**
 * `npm run bench [-- --quick]`: the end-to-end benchmark. In one process tree it starts a target
 * (its own process, bench/target.ts), a nats-server, and runs
 *   a. baselines: autocannon against the target (what a Node client gets out of it here), and
 *      the replayer's scheduler (DueQueue) alone, no I/O: the timer lateness floor;
 *   b. untimed throughput: `havok local` with everything due at once (speed 1e6, max_idle_ms 1)
 *      → records/s = requests.sent / duration_s, the rate at the target, the wall clock;
 *   c. timing fidelity: paced replays at 2,000 and 5,000 req/s (speed 1) → lateness p50/p99/max
 *      from the report, and as the target saw it (arrival − due), split into the first
 *      STEADY_AFTER_S seconds (cold start) and the rest (steady state);
 *   d. memory (bench/memory.ts): an untimed replay of 5,000,000 generated lines (1,000,000 with
 *      --quick) with every actor in its own process → each actor's peak RSS against the 150 MB
 *      limit (issue 5), records/s and the accounting.
 *   e. against nginx's clock (bench/nginx-phase.ts, issue 15): a private nginx whose `$msec`
 *      access log times every request; a fresh `havok local` with default settings paced at
 *      2,000 … 20,000/s (lateness at nginx, time to the first request) beside hey -q at the same
 *      rate, and untimed beside autocannon and wrk.
 *   f. the ingest gateway (bench/gateway-phase.ts, issue 16): 1,000-line POSTs by autocannon into
 *      JetStream beside a bare JetStream publisher of the same lines, and the replay read back.
 * Every phase also records where the CPU went (bench/cpu.ts): on a shared machine other users'
 * load shows there, and the figures of a disturbed phase are flagged.
 *
 * Prints a markdown table (benchmark | figure | baseline | ratio), notes, and a WARNING line for
 * each failed run or accounting that does not close (exit 1 then); writes bench/results/latest.json.
 * Leaves no process behind, also on Ctrl-C.
 *
 * Flags: --quick (shorter runs), --keep (keep the temp dir with logs, configs and reports),
 *        --only parse,findings,baseline,untimed,paced,memory,nginx-paced,nginx-untimed,diff,traffic,gateway,soak (a subset of the phases; soak only when named),
 *        --memory-lines N (the memory phase's log size instead of 5M / 1M),
 *        --paced-rates 2000,5000 (the paced phase's rates instead of 5,000, 10,000 and 20,000/s),
 *        --nginx-rates 2000,5000 (the nginx-paced phase's rates instead of 2,000 … 20,000/s),
 *        --actor-node-options='<flags>' (NODE_OPTIONS for the memory phase's actors, for experiments),
 *        --traffic-lines N (the traffic phase's stored lines instead of 5M / 500k; bench/traffic.ts),
 *        --minutes N (the soak's length, default 30).
 *   f. soak (bench/soak.ts, only with `--only soak`): a 5,000 req/s replay for --minutes (30)
 *      with a replayer killed and restarted every 2 minutes and NATS restarted once: RSS of every
 *      actor flat, lateness p99 per minute, accounting closed.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startNatsServer, type NatsServerHandle } from '../services/local/nats-server.js';
import type { EndReport } from '../services/reporter/report.js';
import { DueQueue, systemClock } from '../services/replayer/scheduler.js';
import { newHistogram, percentilesMs, recordMs, type Percentiles } from '../shared/histogram.js';
import { CpuMeter, type CpuUse } from './cpu.js';
import type { BenchTarget, HavokRun, HavokRunOptions, TargetStats } from './types.js';
import { checkRun, droppedText, fmtN, fmtRatio, table, type Row } from './rows.js';
import { startNginx, type Nginx } from './nginx.js';
import { freePort } from '../shared/ports.js';
import { rateOf, runNginxPaced, runNginxUntimed, type NginxPhaseContext, type PhaseOutput } from './nginx-phase.js';
import { generateLog } from './generate-log.js';
import { LATE_MS, STEADY_AFTER_S, targetLateness } from './lateness.js';
import { runAutocannon, type AutocannonResult } from './peers.js';
import { benchJobToml } from './job-config.js';
import { runParse } from './parse.js';
import { runDiffPhase } from './diff-phase.js';
import { runFindings } from './findings.js';
import { runGatewayPhase } from './gateway-phase.js';
import { memorySummary, memoryTable, RSS_LIMIT_MB, runMemory, type MemoryResult } from './memory.js';
import { runSoak } from './soak.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI of the same build as this file (dist/ or another out dir), through a launcher named havok.js (see main). */
const MAIN_JS = fileURLToPath(new URL('../cli/main.js', import.meta.url));
let HAVOK_BIN = join(REPO_ROOT, 'bin', 'havok.js');
const TARGET_JS = fileURLToPath(new URL('./target.js', import.meta.url));
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

/** docs/architecture.md, Measured limits of the test machine: for the table's baseline column. */
const DESIGN_TIMER_P99_MS = 3;

interface Plan {
  quick: boolean;
  autocannonS: number;
  connections: number;
  untimedLines: number;
  /** Lines per analyzer in the parse phase. */
  parseLines: number;
  pacedRates: number[];
  pacedLogS: number;
  /** Paced rates of the nginx-paced phase (issue 15). */
  nginxRates: number[];
  timerBaselineS: number;
  memoryLines: number;
}

function plan(quick: boolean): Plan {
  return {
    quick,
    autocannonS: quick ? 3 : 10,
    connections: 64,
    untimedLines: quick ? 50_000 : 200_000,
    parseLines: quick ? 100_000 : 400_000,
    // Issue 9's rates: lateness p99 ≤ 2 ms at 10,000/s and ≤ 5 ms at 20,000/s.
    pacedRates: [5000, 10_000, 20_000],
    pacedLogS: quick ? 5 : 10,
    nginxRates: [2000, 5000, 10_000, 20_000],
    timerBaselineS: quick ? 1 : 3,
    memoryLines: quick ? 1_000_000 : 5_000_000,
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is registered, so an exit or a signal kills what is left.

const children = new Set<ChildProcess>();
let interrupted = false;
/** Temp dir of this run, removed on exit unless --keep. */
let tempDir: string | undefined;
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    process.stderr.write(`bench: ${sig}; stopping\n`);
    // havok local stops its own actors on SIGTERM (SIGKILL after 5 s): wait for it, so none is
    // orphaned, before the exit hook SIGKILLs whatever is left.
    for (const c of children) c.kill('SIGTERM');
    const deadline = Date.now() + 8000;
    const poll = setInterval(() => {
      if (children.size === 0 || Date.now() > deadline) {
        clearInterval(poll);
        void (nats?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
      }
    }, 50);
  });
}

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once('exit', () => children.delete(c));
  if (interrupted) c.kill('SIGTERM');
  return c;
}

const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
const load = (): number => round(loadavg()[0], 2);

// ---------------------------------------------------------------------------------------------
// Target

/** `args`: the target's flags (`--json BYTES`). */
async function startTarget(args: string[] = []): Promise<BenchTarget> {
  // stdin stays a pipe we hold: the target exits when it closes, even if this process is killed.
  const proc = track(spawn(process.execPath, [TARGET_JS, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = createInterface({ input: proc.stdout! });
  const first = await Promise.race([
    once(lines, 'line').then(([l]) => String(l)),
    once(proc, 'exit').then(() => {
      throw new Error('bench target exited before printing its port');
    }),
    sleep(10_000).then(() => {
      throw new Error('bench target did not print its port within 10 s');
    }),
  ]);
  const url = `http://127.0.0.1:${Number(first)}`;
  return {
    url,
    pid: proc.pid,
    async stats() {
      return (await (await fetch(`${url}/__stats`)).json()) as TargetStats;
    },
    async reset(record = false) {
      await (await fetch(`${url}/__reset${record ? '?record=1' : ''}`, { method: 'POST' })).arrayBuffer();
    },
    async arrivals() {
      return (await (await fetch(`${url}/__arrivals`)).json()) as number[];
    },
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// a. baselines

/**
 * The replayer's own scheduler, alone in an idle process: records at `rate`/s pushed in batches
 * `leadMs` ahead of their due time (as the time wheel releases them), lateness = fire − due.
 * This is the floor a replay's lateness can reach on this machine.
 */
async function timerBaseline(rate: number, seconds: number, leadMs = 50): Promise<Percentiles> {
  const h = newHistogram();
  const n = Math.round(rate * seconds);
  const origin = systemClock.now() + 200;
  let done = 0;
  let finished!: () => void;
  const all = new Promise<void>((r) => (finished = r));
  const q = new DueQueue<{ due: number }>(systemClock, (it, now) => {
    recordMs(h, now - it.due);
    if (++done === n) finished();
    return true;
  });
  // Release in 1 ms steps, `leadMs` ahead, like the time wheel does.
  let next = 0;
  const feeder = setInterval(() => {
    const horizon = systemClock.now() + leadMs;
    const batch: Array<{ due: number }> = [];
    for (; next < n; next++) {
      const due = origin + (next * 1000) / rate;
      if (due > horizon) break;
      batch.push({ due });
    }
    if (batch.length) q.push(batch);
    if (next >= n) clearInterval(feeder);
  }, 1);
  await all;
  clearInterval(feeder);
  return percentilesMs(h);
}

// ---------------------------------------------------------------------------------------------
// b, c. havok local runs

let localArgs: string[] = [];

async function runHavok(dir: string, benchNatsUrl: string, target: BenchTarget, o: HavokRunOptions): Promise<HavokRun> {
  // With defaults, a URL nothing answers at: `havok local` then starts a nats-server of its own.
  const natsUrl = o.defaults ? `nats://127.0.0.1:${await freePort()}` : benchNatsUrl;
  const reportPath = join(dir, `${o.name}-report.json`);
  const configPath = join(dir, `${o.name}.toml`);
  writeFileSync(configPath, benchJobToml({ jobId: `bench-${o.name}`, logPath: o.logPath, targetUrl: target.url, natsUrl, reportPath, speed: o.speed, maxIdleMs: o.maxIdleMs, tuned: !o.defaults }) + (o.extraToml ?? ''));
  await target.reset(o.recordArrivals);
  rmSync(reportPath, { force: true });
  const t0 = performance.now();
  const spawned_at_ms = Date.now();
  const proc = track(
    spawn(process.execPath, [HAVOK_BIN, 'local', '--config', configPath, ...localArgs], {
      env: { ...process.env, HAVOK_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-20_000)));
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  // Generous: the run's own length plus start-up, settle and report time.
  const limitMs = (o.expectedS + 120) * 1000;
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    log(`${o.name}: no end after ${limitMs / 1000} s; stopping havok local`);
    proc.kill('SIGTERM');
    setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
  }, limitMs);
  const [code, signal] = (await once(proc, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  const wall_s = round((performance.now() - t0) / 1000, 3);
  let report: EndReport | undefined;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8')) as EndReport;
  } catch {
    report = undefined;
  }
  const ts = await target.stats();
  const arrivals = o.recordArrivals ? await target.arrivals() : undefined;
  await target.reset();
  const exit_code = code ?? (signal ? 128 : 1);
  if (timedOut || exit_code !== 0 || !report) {
    log(`${o.name}: havok local exit ${exit_code}${timedOut ? ' (timed out)' : ''}${report ? '' : ', no report'}; stderr tail:\n${stderr.slice(-3000)}`);
  }
  const summaryAt = stdout.lastIndexOf('\nhavok job ');
  return {
    exit_code,
    spawned_at_ms,
    wall_s,
    report,
    target: { ...ts, rate_rps: round(rateOf(ts)), span_s: round((ts.last_at - ts.first_at) / 1000, 3) },
    arrivals,
    stderr_tail: stderr.slice(-4000),
    summary: summaryAt >= 0 ? stdout.slice(summaryAt + 1).trimEnd() : stdout.slice(-2000).trimEnd(),
  };
}

// ---------------------------------------------------------------------------------------------

let nats: NatsServerHandle | undefined;

/** One line per phase: where the CPU went (cores), and the busiest roles of the tree. */
function cpuLine(name: string, c: CpuUse): string {
  const roles = Object.entries(c.by_role)
    .sort((a, b) => b[1] - a[1])
    .filter(([, v]) => v >= 0.05)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
  return (
    `${name}: ${c.machine.toFixed(2)} cores busy over ${c.seconds} s: this bench ${c.tree.toFixed(2)} (${roles || '—'}), others ${c.others.toFixed(2)}; ` +
    `interrupts ${c.irq.toFixed(2)}, steal ${c.steal.toFixed(2)}`
  );
}

/** Other users' load above this (cores, mean over a phase) makes that phase's figures suspect. */
const OTHERS_NOISY = 0.25;
/** Issue 9: every analyzer at ≥ 0.8 × the bare parse rate. */
const PARSE_TARGET = 0.8;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      only: { type: 'string' },
      'memory-lines': { type: 'string' },
      'actor-node-options': { type: 'string' },
      'paced-rates': { type: 'string' },
      'nginx-rates': { type: 'string' },
      minutes: { type: 'string', default: '30' },
      'traffic-lines': { type: 'string' },
      'local-args': { type: 'string' },
    },
  });
  // Extra `havok local` arguments for every run (e.g. `--replayers 2`), to compare a setting with the defaults.
  localArgs = values['local-args']?.split(/\s+/).filter((a) => a !== '') ?? [];
  const p = plan(values.quick ?? false);
  if (values['memory-lines'] !== undefined) {
    p.memoryLines = Number(values['memory-lines']);
    if (!Number.isInteger(p.memoryLines) || p.memoryLines < 1) throw new Error(`--memory-lines: expected a positive integer, got ${JSON.stringify(values['memory-lines'])}`);
  }
  if (values['paced-rates'] !== undefined) {
    p.pacedRates = values['paced-rates'].split(',').map(Number);
    if (p.pacedRates.some((r) => !Number.isInteger(r) || r < 1)) throw new Error(`--paced-rates: expected positive integers, got ${JSON.stringify(values['paced-rates'])}`);
  }
  if (values['nginx-rates'] !== undefined) {
    p.nginxRates = values['nginx-rates'].split(',').map(Number);
    if (p.nginxRates.some((r) => !Number.isInteger(r) || r < 1)) throw new Error(`--nginx-rates: expected positive integers, got ${JSON.stringify(values['nginx-rates'])}`);
  }
  const PHASES = ['parse', 'findings', 'baseline', 'untimed', 'paced', 'memory', 'nginx-paced', 'nginx-untimed', 'diff', 'traffic', 'gateway'];
  // Run only when asked for: the soak takes --minutes.
  const ON_REQUEST = ['soak'];
  const phases = new Set(values.only ? values.only.split(',') : PHASES);
  for (const ph of phases) if (![...PHASES, ...ON_REQUEST].includes(ph)) throw new Error(`--only: unknown phase ${JSON.stringify(ph)} (phases: ${[...PHASES, ...ON_REQUEST].join(', ')})`);
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) throw new Error(`--minutes: expected a positive number, got ${JSON.stringify(values.minutes)}`);
  const dir = mkdtempSync(join(tmpdir(), 'havok-bench-'));
  if (!values.keep) tempDir = dir;
  // `havok local` and the actors it spawns run this build; the launcher's name lets cpu.ts name them.
  HAVOK_BIN = join(dir, 'havok.js');
  writeFileSync(HAVOK_BIN, `import ${JSON.stringify(pathToFileURL(MAIN_JS).href)};\n`);
  const started = new Date();
  log(`${p.quick ? 'quick' : 'full'} run; temp dir ${dir}; load average ${load()} on ${cpus().length} CPUs`);
  const target = await startTarget();
  let nginx: Nginx | undefined;
  const rows: Row[] = [];
  const failures: string[] = [];
  const notes: string[] = [];
  const cpu: Record<string, CpuUse> = {};
  let memory: MemoryResult | undefined;
  const meter = new CpuMeter();
  const measured = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    meter.start();
    try {
      return await fn();
    } finally {
      const c = (cpu[phase] = meter.stop());
      notes.push(cpuLine(phase, c));
      if (c.others > OTHERS_NOISY) notes.push(`${phase}: other processes used ${c.others.toFixed(2)} cores meanwhile; its figures are disturbed`);
    }
  };
  const results: Record<string, unknown> = {
    started_at: started.toISOString(),
    quick: p.quick,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, node: process.version, load_avg_1m_at_start: load() },
    plan: p,
    cpu,
  };
  /** A phase's rows, failures and notes join the run's; its results go under `key`. */
  const addPhase = (key: string, o: PhaseOutput): void => {
    rows.push(...o.rows);
    failures.push(...o.failures);
    notes.push(...o.notes);
    results[key] = o.results;
  };
  try {
    // 0. parse rate of each analyzer against the bare parse (CPU only, in this process).
    if (phases.has('parse')) {
      log(`parse: ${fmtN(p.parseLines)} lines per analyzer, 7 passes alternating with the bare parse (medians)`);
      const parse = await measured('parse', async () => runParse(p.parseLines));
      results.parse = parse;
      for (const r of parse) {
        rows.push({
          benchmark: `parse: ${r.analyzer} (${fmtN(r.records)} of ${fmtN(r.lines)} lines became records)`,
          figure: `${fmtN(r.lines_per_s)} lines/s`,
          baseline: `${r.baseline}: ${fmtN(r.baseline_lines_per_s)} lines/s`,
          ratio: `${r.ratio.toFixed(2)} (target ≥ ${PARSE_TARGET})`,
        });
      }
    }

    // 0b. the trace context and heavy hitters per request, against building the request alone (CPU only).
    if (phases.has('findings')) {
      const f = await measured('findings', async () => runFindings(p.quick ? 200_000 : 1_000_000));
      results.findings = f;
      rows.push({ benchmark: 'send path + W3C trace context', figure: `${fmtN(f.traced_rps)} req/s`, baseline: `buildRequest alone: ${fmtN(f.build_rps)} req/s`, ratio: (f.traced_rps / f.build_rps).toFixed(2) });
      rows.push({ benchmark: 'send path + trace + heavy hitters and samples', figure: `${fmtN(f.findings_rps)} req/s`, baseline: `buildRequest alone: ${fmtN(f.build_rps)} req/s`, ratio: (f.findings_rps / f.build_rps).toFixed(2) });
    }

    // a. baselines
    let ac: AutocannonResult = { rps: 0, requests: 0, duration_s: 0, latency_p50_ms: 0, latency_p99_ms: 0, errors: 0, non2xx: 0 };
    const timer: Record<number, Percentiles> = {};
    if (phases.has('baseline')) {
      log(`autocannon, ${p.connections} connections, ${p.autocannonS} s`);
      await autocannon({ url: `${target.url}/items/0?q=0`, connections: p.connections, duration: 1 }); // warm-up (JIT, sockets)
      ac = await measured('autocannon', () => runAutocannon(target.url, p.connections, p.autocannonS));
      results.autocannon = ac;
      rows.push({ benchmark: `HTTP baseline: autocannon, ${p.connections} conns, ${p.autocannonS} s`, figure: `${fmtN(ac.rps)} req/s (p50/p99 ${ac.latency_p50_ms} / ${ac.latency_p99_ms} ms)`, baseline: '—', ratio: '—' });
      if (ac.errors || ac.non2xx) failures.push(`autocannon: ${ac.errors} errors, ${ac.non2xx} non-2xx`);
      for (const rate of p.pacedRates) {
        log(`scheduler alone (DueQueue, no I/O) at ${rate}/s for ${p.timerBaselineS} s`);
        timer[rate] = await measured(`scheduler alone ${rate}/s`, () => timerBaseline(rate, p.timerBaselineS));
        rows.push({
          benchmark: `timer baseline: replayer scheduler alone, ${fmtN(rate)}/s, ${p.timerBaselineS} s`,
          figure: `lateness p50/p99/max ${timer[rate].p50} / ${timer[rate].p99} / ${timer[rate].max} ms`,
          baseline: '§6: p50 0.6, p99 1–3 ms',
          ratio: `p99 ${fmtRatio(timer[rate].p99, DESIGN_TIMER_P99_MS)}× of 3 ms`,
        });
      }
      results.timer_baseline = timer;
    }

    nats = await startNatsServer({ jetstream: true });
    log(`nats-server ${nats.url} (pid ${nats.pid})`);

    // b. untimed throughput: every record due at once.
    if (phases.has('untimed')) {
      const untimedLog = join(dir, 'untimed.jsonl');
      await generateLog(untimedLog, { lines: p.untimedLines, ratePerSec: 10_000 });
      log(`untimed replay of ${fmtN(p.untimedLines)} records (speed 1e6, max_idle_ms 1)`);
      const u = await measured('untimed', () =>
        runHavok(dir, nats!.url, target, { name: 'untimed', logPath: untimedLog, speed: 1_000_000, maxIdleMs: 1, expectedS: p.untimedLines / 5000 }),
      );
      failures.push(...checkRun('untimed', u));
      const ur = u.report;
      const uRps = ur ? ur.requests.sent / ur.duration_s : 0;
      results.untimed = { lines: p.untimedLines, records_per_s: round(uRps), wall_s: u.wall_s, target: u.target, exit_code: u.exit_code, report: ur, summary: u.summary };
      const label = `untimed replay, ${fmtN(p.untimedLines)} records`;
      const acText = ac.rps ? `${fmtN(ac.rps)} req/s autocannon` : '—';
      rows.push(
        { benchmark: label, figure: ur ? `${fmtN(uRps)} records/s (sent ${fmtN(ur.requests.sent)} / duration_s ${ur.duration_s})` : 'no report', baseline: acText, ratio: fmtRatio(uRps, ac.rps) },
        { benchmark: `${label}: rate at the target`, figure: `${fmtN(u.target.rate_rps)} req/s (${fmtN(u.target.count)} in ${u.target.span_s} s, first→last)`, baseline: acText, ratio: fmtRatio(u.target.rate_rps, ac.rps) },
        {
          benchmark: `${label}: wall clock of havok local`,
          figure: `${u.wall_s} s (${fmtN(p.untimedLines / u.wall_s)} records/s)`,
          baseline: ac.rps ? `${round(p.untimedLines / ac.rps, 2)} s at autocannon's rate` : '—',
          ratio: fmtRatio(p.untimedLines / u.wall_s, ac.rps),
        },
        { benchmark: `${label}: dropped`, figure: droppedText(ur), baseline: '0', ratio: '—' },
        { benchmark: `${label}: latency p50/p99`, figure: ur ? `${ur.latency_ms.p50} / ${ur.latency_ms.p99} ms` : '—', baseline: ac.rps ? `${ac.latency_p50_ms} / ${ac.latency_p99_ms} ms autocannon` : '—', ratio: '—' },
      );
    }

    // c. timing fidelity: paced at speed 1. First an unmeasured replay at 2,000/s for 3 s: the
    // target then has served havok's requests (their shapes, havok's connections) before the
    // measured runs, as it served autocannon's before its run. Cold, the bench target alone
    // added 100-200 ms of lateness to the first second of a 20,000/s replay.
    if (phases.has('paced')) {
      const path = join(dir, 'paced-warmup.jsonl');
      await generateLog(path, { lines: 6000, ratePerSec: 2000 });
      log('paced: unmeasured 3 s replay at 2,000/s to warm the target');
      const w = await runHavok(dir, nats.url, target, { name: 'paced-warmup', logPath: path, speed: 1, maxIdleMs: 0, expectedS: 3 });
      failures.push(...checkRun('paced warm-up', w));
    }
    for (const rate of phases.has('paced') ? p.pacedRates : []) {
      const lines = rate * p.pacedLogS;
      const path = join(dir, `paced-${rate}.jsonl`);
      await generateLog(path, { lines, ratePerSec: rate });
      log(`paced replay at ${rate}/s, ${p.pacedLogS} s of log (${fmtN(lines)} records, speed 1)`);
      const run = await measured(`paced ${rate}/s`, () =>
        runHavok(dir, nats!.url, target, { name: `paced-${rate}`, logPath: path, speed: 1, maxIdleMs: 0, expectedS: p.pacedLogS, recordArrivals: true }),
      );
      failures.push(...checkRun(`paced ${rate}/s`, run));
      const r = run.report;
      const t = timer[rate] as Percentiles | undefined;
      const seen = r && run.arrivals ? targetLateness(run.arrivals, Date.parse(r.started_at), rate) : undefined;
      results[`paced_${rate}`] = { rate, lines, wall_s: run.wall_s, target: run.target, lateness_at_target: seen, exit_code: run.exit_code, report: r, summary: run.summary };
      const name = `paced ${fmtN(rate)}/s, ${p.pacedLogS} s, speed 1`;
      const pct = (q: Percentiles | undefined): string => (q ? `${q.p50} / ${q.p99} / ${q.max} ms` : '—');
      rows.push(
        {
          benchmark: `${name}: lateness p50/p99/max (report)`,
          figure: r ? pct(r.lateness_ms) : 'no report',
          baseline: t ? `scheduler alone ${pct(t)}` : '§6: p99 1–3 ms',
          ratio: r ? `p99 ${fmtRatio(r.lateness_ms.p99, t?.p99 || DESIGN_TIMER_P99_MS)}×` : '—',
        },
        {
          benchmark: `${name}: lateness at the target, first ${STEADY_AFTER_S} s`,
          figure: seen ? `${pct(seen.start)}; ${round(seen.start_late_5ms * 100, 1)}% > ${LATE_MS} ms` : '—',
          baseline: '—',
          ratio: '—',
        },
        {
          benchmark: `${name}: lateness at the target, after ${STEADY_AFTER_S} s`,
          figure: seen ? `${pct(seen.steady)}; ${round(seen.steady_late_5ms * 100, 1)}% > ${LATE_MS} ms` : '—',
          baseline: t ? `scheduler alone ${pct(t)}` : '§6: p99 1–3 ms',
          ratio: seen ? `p99 ${fmtRatio(seen.steady.p99, t?.p99 || DESIGN_TIMER_P99_MS)}×` : '—',
        },
        { benchmark: `${name}: sent / expected`, figure: r ? `${fmtN(r.requests.sent)} / ${fmtN(lines)}` : '—', baseline: fmtN(lines), ratio: r ? (r.requests.sent / lines).toFixed(3) : '—' },
        { benchmark: `${name}: rate at the target`, figure: `${fmtN(run.target.rate_rps)} req/s (${run.target.span_s} s first→last)`, baseline: `${fmtN(rate)} req/s`, ratio: fmtRatio(run.target.rate_rps, rate) },
        { benchmark: `${name}: dropped`, figure: droppedText(r), baseline: '0', ratio: '—' },
        { benchmark: `${name}: latency p50/p99 (from due p99)`, figure: r ? `${r.latency_ms.p50} / ${r.latency_ms.p99} ms (${r.latency_from_due_ms.p99} ms)` : '—', baseline: ac.rps ? `${ac.latency_p50_ms} / ${ac.latency_p99_ms} ms autocannon` : '—', ratio: '—' },
        { benchmark: `${name}: wall clock of havok local`, figure: `${run.wall_s} s`, baseline: `${p.pacedLogS} s of log`, ratio: fmtRatio(run.wall_s, p.pacedLogS) },
      );
      if (seen) notes.push(`paced ${rate}/s: lateness at the target by second of the replay, p99 (max): ${seen.per_second.map((w) => `${w.p99} (${w.max})`).join(', ')} ms`);
    }

    // d. memory: peak RSS of each actor, each in its own process, on a large untimed replay.
    if (phases.has('memory')) {
      log(`memory: untimed replay of ${fmtN(p.memoryLines)} lines, every actor in its own process`);
      memory = await measured(`memory ${fmtN(p.memoryLines)}`, () =>
        runMemory({ dir, natsUrl: nats!.url, natsPid: nats!.pid, target, targetPid: target.pid, track, log }, { lines: p.memoryLines, nodeOptions: values['actor-node-options'] }),
      );
      failures.push(...memory.failures);
      results.memory = memory;
      const label = `memory, ${fmtN(p.memoryLines)} lines untimed`;
      for (const a of memory.actors) {
        rows.push({ benchmark: `${label}: ${a.name} peak RSS`, figure: `${a.peak_rss_mb.toFixed(1)} MB${a.ok ? '' : ' (OVER)'}`, baseline: `${RSS_LIMIT_MB} MB limit`, ratio: fmtRatio(a.peak_rss_mb, RSS_LIMIT_MB) });
      }
      rows.push(
        { benchmark: `${label}: records/s (report)`, figure: `${fmtN(memory.records_per_s)} (wall clock ${memory.wall_s} s, ${fmtN(memory.records_per_s_wall)}/s)`, baseline: ac.rps ? `${fmtN(ac.rps)} req/s autocannon` : '—', ratio: fmtRatio(memory.records_per_s, ac.rps) },
        { benchmark: `${label}: dropped`, figure: droppedText(memory.report), baseline: '0', ratio: '—' },
      );
    }

    // f. the traffic store (issue 17): index, trace-id lookup, 1-minute query, predicate scan.
    if (phases.has('traffic')) {
      const lines = values['traffic-lines'] !== undefined ? Number(values['traffic-lines']) : p.quick ? 500_000 : 5_000_000;
      if (!Number.isInteger(lines) || lines < 1) throw new Error(`--traffic-lines: expected a positive integer, got ${JSON.stringify(values['traffic-lines'])}`);
      const { runTrafficBench } = await import('./traffic.js');
      const t = await measured(`traffic ${fmtN(lines)}`, () => runTrafficBench(nats!.url, lines, log, nats!.pid));
      results.traffic = t.result;
      rows.push(...t.rows);
    }

    // e. against nginx's clock (issue 15): Havok as a user runs it, with peer tools beside it.
    if (phases.has('nginx-paced') || phases.has('nginx-untimed')) {
      nginx = await startNginx(dir, track);
      log(`nginx ${nginx.url} (pid ${nginx.pid}), access log ${nginx.logPath}`);
      const ctx: NginxPhaseContext = {
        dir,
        nginx,
        pacedLogS: p.pacedLogS,
        untimedLines: p.untimedLines,
        peerS: p.autocannonS,
        connections: p.connections,
        track,
        log,
        measured: async (phase, fn) => ({ value: await measured(phase, fn), cpu: cpu[phase] }),
        runHavok: (t, o) => runHavok(dir, nats!.url, t, o),
      };
      if (phases.has('nginx-paced')) addPhase('nginx_paced', await runNginxPaced(ctx, p.nginxRates));
      if (phases.has('nginx-untimed')) addPhase('nginx_untimed', await runNginxUntimed(ctx));
    }

    // f. response comparison (issue 18): three JSON targets, against a plain replay of the same log.
    if (phases.has('diff')) {
      addPhase('diff', await runDiffPhase({ dir, lines: p.untimedLines / 4, log, startTarget, measured: async (phase, fn) => ({ value: await measured(phase, fn), cpu: cpu[phase] }), runHavok: (t, o) => runHavok(dir, nats!.url, t, o) }));
    }

    // g. soak: only on request (--only soak), for --minutes.
    if (phases.has('soak')) {
      log(`soak: ${minutes} min at 5,000 req/s, a replayer killed every 2 min, NATS restarted once`);
      addPhase('soak', await measured(`soak ${minutes} min`, () => runSoak({ dir, havokBin: HAVOK_BIN, targetUrl: target.url, track, log }, { minutes, rate: 5000, killEveryS: 120 })));
    }

    // h. the ingest gateway (issue 16), on a nats-server of its own.
    if (phases.has('gateway')) {
      // At least 10 s: a POST of 1,000 lines takes a while on a loaded machine, and a short run measures its start.
      addPhase('gateway', await measured('gateway', () => runGatewayPhase({ dir, havokBin: HAVOK_BIN, seconds: Math.max(10, p.autocannonS), connections: 10, track, log })));
    }
  } finally {
    await nginx?.stop().catch(() => undefined);
    await target.stop().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
  }

  results.finished_at = new Date().toISOString();
  results.table = rows;
  results.failures = failures;
  results.notes = notes;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, 'latest.json');
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');

  process.stdout.write(`\n## Havok benchmark (${p.quick ? 'quick' : 'full'}), ${started.toISOString()}, ${cpus().length} CPUs, Node ${process.version}\n\n`);
  process.stdout.write(table(rows) + '\n\n');
  if (memory) {
    process.stdout.write(`### Memory: peak RSS per actor, ${fmtN(memory.lines)} lines untimed (VmHWM sampled every ${memory.sample_ms} ms; maxRSS at exit)\n\n`);
    process.stdout.write(memoryTable(memory) + '\n\n' + memorySummary(memory) + '\n\n');
  }
  for (const n of notes) process.stdout.write(`- ${n}\n`);
  for (const f of failures) process.stdout.write(`WARNING: ${f}\n`);
  process.stdout.write(`results: ${out}${values.keep ? `\nkept: ${dir}` : ''}\n`);
  // A broken run or accounting fails the bench; a noisy machine only shows in the notes.
  return failures.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    // After Ctrl-C the children are gone and the phase in progress fails; that is no news.
    if (!interrupted) process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    process.exitCode = interrupted ? 130 : 1;
  },
);
