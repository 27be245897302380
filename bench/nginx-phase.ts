/**
 * The bench against nginx's clock (issue 15): what a user gets from a fresh `havok local` with
 * default settings, measured at a target no load generator controls (bench/nginx.ts, its
 * `$msec` access log), side by side with peer tools in the same run:
 *   nginx-paced   paced logs at each rate for `pacedLogS` s: Havok's lateness at nginx (whole
 *                 run, first STEADY_AFTER_S s, after), the time from `havok local`'s start to the
 *                 first request, and hey -q at the same rate against a uniform schedule;
 *   nginx-untimed every record due at once: Havok vs autocannon vs wrk, req/s at nginx and CPU
 *                 per request of each load generator.
 * The node target (bench/target.ts) stays for the tuned phases and the latency-accuracy check.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { CpuUse } from './cpu.js';
import { generateLog } from './generate-log.js';
import { STEADY_AFTER_S, targetLateness, uniformLateness, type TargetLateness } from './lateness.js';
import type { Nginx } from './nginx.js';
import { available, HEY_WORKERS, runAutocannon, runHey, runWrk } from './peers.js';
import { checkRun, fmtN, fmtRatio, type Row } from './rows.js';
import type { BenchTarget, HavokRun, HavokRunOptions, TargetStats } from './types.js';
import type { Percentiles } from '../shared/histogram.js';

export interface NginxPhaseContext {
  dir: string;
  nginx: Nginx;
  /** Seconds of log per paced rate. */
  pacedLogS: number;
  untimedLines: number;
  /** Duration of each untimed peer run (autocannon, wrk). */
  peerS: number;
  connections: number;
  track(c: ChildProcess): ChildProcess;
  log(msg: string): void;
  /** Runs `fn` as a named phase and returns it with the CPU it used. */
  measured<T>(phase: string, fn: () => Promise<T>): Promise<{ value: T; cpu: CpuUse }>;
  runHavok(target: BenchTarget, o: HavokRunOptions): Promise<HavokRun>;
}

export interface PhaseOutput {
  rows: Row[];
  failures: string[];
  notes: string[];
  results: Record<string, unknown>;
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
const pct = (q: Percentiles | undefined): string => (q ? `${q.p50} / ${q.p99} / ${q.max} ms` : '—');
/** nginx's `$msec` has ms resolution: whole ms, not the histogram's bucket values (13.007). */
const ms = (x: number): number => Math.round(x);
const pctAt = (q: Percentiles | undefined): string => (q ? `${ms(q.p50)} / ${ms(q.p99)} / ${ms(q.max)} ms` : '—');
const p99 = (q: Percentiles | undefined): string => (q ? `${ms(q.p99)} ms` : '—');

/** Requests/s between the first and the last arrival. */
export function rateOf(s: TargetStats): number {
  const span = (s.last_at - s.first_at) / 1000;
  return s.count > 1 && span > 0 ? (s.count - 1) / span : 0;
}

/**
 * µs of CPU per request of the load generator: the whole bench tree's CPU minus nginx's (the
 * target is not the tool). For Havok that is every actor and its nats-server; for autocannon the
 * bench process; it includes the bench's own sampling (~1% of a core).
 */
export function cpuPerRequestUs(c: CpuUse, requests: number): number {
  const cores = c.tree - (c.by_role.nginx ?? 0);
  return requests > 0 ? round((cores * c.seconds * 1e6) / requests, 1) : 0;
}

export async function runNginxPaced(ctx: NginxPhaseContext, rates: readonly number[]): Promise<PhaseOutput> {
  const out: PhaseOutput = { rows: [], failures: [], notes: [], results: {} };
  const hey = available('hey');
  if (!hey) out.notes.push('nginx-paced: hey is not installed (scripts/ensure-deps.sh bench), so its rows are empty');
  for (const rate of rates) {
    const lines = rate * ctx.pacedLogS;
    const path = join(ctx.dir, `nginx-paced-${rate}.jsonl`);
    await generateLog(path, { lines, ratePerSec: rate });
    ctx.log(`nginx-paced: fresh havok local, defaults, ${fmtN(rate)}/s for ${ctx.pacedLogS} s (${fmtN(lines)} records)`);
    const h = await ctx.measured(`nginx paced ${rate}/s havok`, () =>
      ctx.runHavok(ctx.nginx, { name: `nginx-paced-${rate}`, logPath: path, speed: 1, maxIdleMs: 0, expectedS: ctx.pacedLogS, recordArrivals: true, defaults: true }),
    );
    const run = h.value;
    out.failures.push(...checkRun(`nginx paced ${rate}/s`, run));
    const r = run.report;
    // Origin: the report's started_at + warmup_ms is the pacer's own origin (the time wheel starts
    // it at now + warmup_ms when the job starts), on the time wheel's wall clock, which is the
    // machine clock nginx's $msec reads too. The first request's arrival would be the other
    // choice, but it would subtract the first request's own lateness from every request and so
    // hide exactly the start-up delay this phase is to show.
    const late = r && run.arrivals ? targetLateness(run.arrivals, Date.parse(r.started_at), rate) : undefined;
    const firstS = run.target.count ? round((run.target.first_at - run.spawned_at_ms) / 1000, 2) : undefined;
    let heyRun: { lateness: TargetLateness; rate_rps: number; count: number; exit_code: number; cpu_us_per_request: number } | undefined;
    if (hey) {
      ctx.log(`nginx-paced: hey -c ${HEY_WORKERS} -q ${rate / HEY_WORKERS} (${fmtN(rate)}/s) for ${ctx.pacedLogS} s`);
      await ctx.nginx.reset();
      const m = await ctx.measured(`nginx paced ${rate}/s hey`, () => runHey(ctx.nginx.url, rate, ctx.pacedLogS, ctx.track));
      const seen = ctx.nginx.logged();
      const stats = await ctx.nginx.stats();
      if (m.value.exit_code !== 0) out.failures.push(`hey at ${rate}/s exited with ${m.value.exit_code}: ${m.value.stderr.slice(-500)}`);
      heyRun = {
        lateness: uniformLateness(
          seen.map((a) => a.at_ms),
          rate,
        ),
        rate_rps: round(rateOf(stats)),
        count: stats.count,
        exit_code: m.value.exit_code,
        cpu_us_per_request: cpuPerRequestUs(m.cpu, stats.count),
      };
    }
    out.results[`rate_${rate}`] = {
      rate,
      lines,
      havok: { wall_s: run.wall_s, first_request_s: firstS, target: run.target, lateness_at_nginx: late, report_lateness_ms: r?.lateness_ms, exit_code: run.exit_code, summary: run.summary },
      hey: heyRun,
    };
    const name = `nginx paced ${fmtN(rate)}/s, ${ctx.pacedLogS} s`;
    const heyBase = (q: Percentiles | undefined): string => (heyRun ? `hey -q ${p99(q)} p99` : '—');
    out.rows.push(
      { benchmark: `${name}: Havok lateness at nginx p50/p99/max, whole run`, figure: pctAt(late?.overall), baseline: heyBase(heyRun?.lateness.overall), ratio: '—' },
      { benchmark: `${name}: Havok lateness at nginx, first ${STEADY_AFTER_S} s`, figure: pctAt(late?.start), baseline: heyBase(heyRun?.lateness.start), ratio: '—' },
      { benchmark: `${name}: Havok lateness at nginx, after ${STEADY_AFTER_S} s`, figure: pctAt(late?.steady), baseline: heyBase(heyRun?.lateness.steady), ratio: '—' },
      { benchmark: `${name}: Havok report's lateness p50/p99/max`, figure: pct(r?.lateness_ms), baseline: `at nginx ${p99(late?.overall)} p99`, ratio: '—' },
      {
        benchmark: `${name}: rate at nginx (Havok sent / expected)`,
        figure: `${fmtN(run.target.rate_rps)} req/s (${r ? `${fmtN(r.requests.sent)} / ${fmtN(lines)}` : 'no report'})`,
        baseline: heyRun ? `hey ${fmtN(heyRun.rate_rps)} req/s (${fmtN(heyRun.count)})` : `${fmtN(rate)} req/s`,
        ratio: fmtRatio(run.target.rate_rps, rate),
      },
      { benchmark: `${name}: first request at nginx after havok local started`, figure: firstS === undefined ? '—' : `${firstS} s`, baseline: 'target ≤ 1.5 s', ratio: '—' },
    );
    if (late) out.notes.push(`nginx paced ${rate}/s: Havok's lateness at nginx by second, p99 (max): ${late.per_second.map((w) => `${ms(w.p99)} (${ms(w.max)})`).join(', ')} ms`);
  }
  return out;
}

export async function runNginxUntimed(ctx: NginxPhaseContext): Promise<PhaseOutput> {
  const out: PhaseOutput = { rows: [], failures: [], notes: [], results: {} };
  const path = join(ctx.dir, 'nginx-untimed.jsonl');
  await generateLog(path, { lines: ctx.untimedLines, ratePerSec: 10_000 });
  ctx.log(`nginx-untimed: fresh havok local, defaults, ${fmtN(ctx.untimedLines)} records all due at once`);
  const h = await ctx.measured('nginx untimed havok', () =>
    ctx.runHavok(ctx.nginx, { name: 'nginx-untimed', logPath: path, speed: 1_000_000, maxIdleMs: 1, expectedS: ctx.untimedLines / 5000, defaults: true }),
  );
  out.failures.push(...checkRun('nginx untimed', h.value));
  const havok = { rate_rps: h.value.target.rate_rps, count: h.value.target.count, cpu_us_per_request: cpuPerRequestUs(h.cpu, h.value.target.count), report_records_per_s: h.value.report ? round(h.value.report.requests.sent / h.value.report.duration_s) : 0, wall_s: h.value.wall_s };

  ctx.log(`nginx-untimed: autocannon, ${ctx.connections} connections, ${ctx.peerS} s`);
  await ctx.nginx.reset();
  const ac = await ctx.measured('nginx untimed autocannon', () => runAutocannon(ctx.nginx.url, ctx.connections, ctx.peerS, '/autocannon?q=0'));
  const acStats = await ctx.nginx.stats();
  const autocannon = { rate_rps: round(rateOf(acStats)), count: acStats.count, own_rps: ac.value.rps, cpu_us_per_request: cpuPerRequestUs(ac.cpu, acStats.count), errors: ac.value.errors + ac.value.non2xx };

  let wrk: { rate_rps: number; count: number; own_rps: number; cpu_us_per_request: number; exit_code: number } | undefined;
  if (available('wrk')) {
    ctx.log(`nginx-untimed: wrk -t2 -c${ctx.connections}, ${ctx.peerS} s`);
    await ctx.nginx.reset();
    const w = await ctx.measured('nginx untimed wrk', () => runWrk(ctx.nginx.url, ctx.connections, ctx.peerS, ctx.track));
    const wStats = await ctx.nginx.stats();
    wrk = { rate_rps: round(rateOf(wStats)), count: wStats.count, own_rps: w.value.rps, cpu_us_per_request: cpuPerRequestUs(w.cpu, wStats.count), exit_code: w.value.exit_code };
    if (w.value.exit_code !== 0) out.failures.push(`wrk exited with ${w.value.exit_code}: ${w.value.stderr.slice(-500)}`);
  } else out.notes.push('nginx-untimed: wrk is not installed (scripts/ensure-deps.sh bench), so its row is empty');

  out.results = { lines: ctx.untimedLines, havok, autocannon, wrk };
  const cpu = (us: number): string => `${us} µs CPU/request`;
  out.rows.push(
    {
      benchmark: `nginx untimed: Havok (defaults), ${fmtN(ctx.untimedLines)} records`,
      figure: `${fmtN(havok.rate_rps)} req/s at nginx (report ${fmtN(havok.report_records_per_s)}/s); ${cpu(havok.cpu_us_per_request)}`,
      baseline: `autocannon ${fmtN(autocannon.rate_rps)} req/s`,
      ratio: fmtRatio(havok.rate_rps, autocannon.rate_rps),
    },
    { benchmark: 'nginx untimed: Havok / wrk', figure: `${fmtN(havok.rate_rps)} req/s`, baseline: wrk ? `wrk ${fmtN(wrk.rate_rps)} req/s` : '—', ratio: wrk ? fmtRatio(havok.rate_rps, wrk.rate_rps) : '—' },
    { benchmark: `nginx untimed: autocannon, ${ctx.connections} conns, ${ctx.peerS} s`, figure: `${fmtN(autocannon.rate_rps)} req/s at nginx (own ${fmtN(autocannon.own_rps)}); ${cpu(autocannon.cpu_us_per_request)}`, baseline: '—', ratio: '—' },
    { benchmark: `nginx untimed: wrk -t2 -c${ctx.connections}, ${ctx.peerS} s`, figure: wrk ? `${fmtN(wrk.rate_rps)} req/s at nginx (own ${fmtN(wrk.own_rps)}); ${cpu(wrk.cpu_us_per_request)}` : 'not installed', baseline: '—', ratio: '—' },
  );
  if (autocannon.errors) out.failures.push(`autocannon against nginx: ${autocannon.errors} errors or non-2xx`);
  return out;
}
