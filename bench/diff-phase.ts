/**
 * The diff phase (issue 18): `havok local` with `[diff]` against three local targets serving
 * ~2 KB JSON bodies (bench/target.ts `--json 2048`, each its own process), every record due at
 * once. Figures: records compared per second and requests per second over the three targets;
 * the share of the replayer's CPU spent lifting and comparing responses (the replayers'
 * `compare_cpu_s` over the replayer processes' CPU seconds as /proc counted them). Baseline in
 * the same run: the same log replayed plainly (no `[diff]`) against one of the same targets.
 */
import { join } from 'node:path';
import type { CpuUse } from './cpu.js';
import { generateLog } from './generate-log.js';
import type { PhaseOutput } from './nginx-phase.js';
import { checkRun, fmtN, fmtRatio, type Row } from './rows.js';
import type { BenchTarget, HavokRun, HavokRunOptions } from './types.js';

export interface DiffPhaseContext {
  dir: string;
  /** Records in the log. */
  lines: number;
  log(msg: string): void;
  startTarget(args: string[]): Promise<BenchTarget>;
  measured<T>(phase: string, fn: () => Promise<T>): Promise<{ value: T; cpu: CpuUse }>;
  runHavok(target: BenchTarget, o: HavokRunOptions): Promise<HavokRun>;
}

/** Body size of each target's answers, bytes. */
const BODY_BYTES = 2048;
/** Issue 18's target: records compared per second on this machine. */
const TARGET_RECORDS_PER_S = 5000;

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

export async function runDiffPhase(ctx: DiffPhaseContext): Promise<PhaseOutput> {
  const rows: Row[] = [];
  const failures: string[] = [];
  const notes: string[] = [];
  const targets = await Promise.all(['primary', 'candidate', 'secondary'].map(() => ctx.startTarget(['--json', String(BODY_BYTES)])));
  const [primary, candidate, secondary] = targets;
  try {
    const logPath = join(ctx.dir, 'diff.jsonl');
    await generateLog(logPath, { lines: ctx.lines, ratePerSec: 10_000 });
    // Generous: at 200 records/s (a loaded 2-core machine) plus runHavok's own margin.
    const common = { logPath, speed: 1_000_000, maxIdleMs: 1, expectedS: ctx.lines / 200 };

    ctx.log(`diff baseline: plain untimed replay of ${fmtN(ctx.lines)} records against one ${BODY_BYTES} B JSON target`);
    const plain = await ctx.measured('diff baseline (plain replay)', () => ctx.runHavok(primary, { ...common, name: 'diff-plain' }));
    failures.push(...checkRun('diff baseline', plain.value));
    const plainRps = plain.value.report ? plain.value.report.requests.sent / plain.value.report.duration_s : 0;

    ctx.log(`diff: untimed replay of ${fmtN(ctx.lines)} records to primary, candidate and secondary`);
    const extraToml = ['[diff]', `primary = "${primary.url}"`, `candidate = "${candidate.url}"`, `secondary = "${secondary.url}"`, ''].join('\n');
    const diff = await ctx.measured('diff', () => ctx.runHavok(primary, { ...common, name: 'diff', extraToml }));
    failures.push(...checkRun('diff', diff.value));
    const r = diff.value.report;
    const d = r?.diff;
    if (!d) failures.push('diff: the report has no diff section');
    const compared = d?.compared ?? 0;
    const recPerS = r ? compared / r.duration_s : 0;
    if (d && d.compared !== ctx.lines) failures.push(`diff: ${d.compared} of ${ctx.lines} records compared (skipped ${JSON.stringify(d.skipped)})`);
    if (d && d.critical !== 0) failures.push(`diff: ${d.critical} fields reported as different between identical builds`);
    // Replayer CPU seconds over the phase, as /proc saw the replayer processes.
    const replayerCpuS = (diff.cpu.by_role.replayer ?? 0) * diff.cpu.seconds;
    const share = replayerCpuS > 0 && d ? d.compare_cpu_s / replayerCpuS : 0;
    const label = `diff: ${fmtN(ctx.lines)} records × 3 targets, ${BODY_BYTES} B JSON`;
    rows.push(
      { benchmark: label, figure: r ? `${fmtN(recPerS)} records/s (${fmtN(recPerS * 3)} req/s over 3 targets)` : 'no report', baseline: `${fmtN(plainRps)} records/s plain replay, 1 target`, ratio: `${fmtRatio(recPerS, plainRps)} (target ≥ ${fmtN(TARGET_RECORDS_PER_S)} records/s)` },
      { benchmark: `${label}: comparing, share of the replayer's CPU`, figure: d ? `${round(share * 100)}% (${d.compare_cpu_s} s of ${round(replayerCpuS, 2)} s)` : '—', baseline: '—', ratio: '—' },
    );
    notes.push(`diff: noise fields ${d ? d.endpoints.reduce((n, e) => n + e.noise_fields.length, 0) : 0}, critical ${d?.critical ?? '—'}; targets p99 ${d ? Object.entries(d.targets).map(([k, t]) => `${k} ${t.latency_ms.p99} ms`).join(', ') : '—'}`);
    return {
      rows,
      failures,
      notes,
      results: { lines: ctx.lines, records_per_s: round(recPerS), plain_records_per_s: round(plainRps), compare_cpu_s: d?.compare_cpu_s, replayer_cpu_s: round(replayerCpuS, 2), compare_share: round(share, 3), report_diff: d && { ...d, endpoints: d.endpoints.map((e) => ({ ...e, fields: e.fields.map((f) => ({ ...f, examples: [] })) })) } },
    };
  } finally {
    await Promise.all(targets.map((t) => t.stop().catch(() => undefined)));
  }
}
