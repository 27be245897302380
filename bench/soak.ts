/**
 * Soak (`npm run bench -- --only soak --minutes 30`): a paced replay at `rate` req/s for
 * `minutes`, every actor in its own process, with replayer r1 killed (SIGKILL) and restarted
 * every `killEveryS` seconds and the nats-server restarted once halfway. Measured:
 * - every long-lived actor's RSS: its mean over the last window against its mean over the first
 *   (window = 10 minutes, or a third of a shorter run) — flat means within 10%;
 * - lateness p99 per minute, merged exactly from the replayers' stats histograms;
 * - the end report's accounting.
 * The log is `rate / COPIES` lines per second replayed with `[job] rate = COPIES`, so a 30-minute
 * soak needs 900,000 lines, not 9 million.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../services/local/nats-server.js';
import type { EndReport } from '../services/reporter/report.js';
import { mergeWire, newHistogram, percentilesMs, type Histogram } from '../shared/histogram.js';
import { decode, subjects } from '../shared/protocol.js';
import { generateLog } from './generate-log.js';
import { benchJobToml } from './job-config.js';
import { readProcMemory } from './memory.js';
import type { PhaseOutput } from './nginx-phase.js';
import { fmtN, fmtRatio, type Row } from './rows.js';

const COPIES = 10;
const MB = 1024 * 1024;
/** RSS flat: the last window's mean within this of the first's. */
const FLAT_WITHIN = 0.1;
const LONG_LIVED = ['reporter', 'router', 'timewheel', 'fetcher', 'r2'] as const;

export interface SoakContext {
  dir: string;
  havokBin: string;
  targetUrl: string;
  track(c: ChildProcess): ChildProcess;
  log(msg: string): void;
}

export interface SoakOptions {
  minutes: number;
  /** Requests per second at the target. */
  rate: number;
  killEveryS: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

export async function runSoak(ctx: SoakContext, o: SoakOptions): Promise<PhaseOutput> {
  const failures: string[] = [];
  const notes: string[] = [];
  const dir = mkdtempSync(join(ctx.dir, 'soak-'));
  const logRate = o.rate / COPIES;
  const logPath = join(dir, 'soak.jsonl');
  await generateLog(logPath, { lines: Math.round(logRate * o.minutes * 60), ratePerSec: logRate });
  // Our own server on a fixed port and store, so it can be restarted with the job's streams.
  const storeDir = join(dir, 'nats-store');
  let nats: NatsServerHandle = await startNatsServer({ storeDir });
  const port = nats.port;
  const reportPath = join(dir, 'report.json');
  const config = join(dir, 'job.toml');
  writeFileSync(config, benchJobToml({ jobId: 'soak', logPath, targetUrl: ctx.targetUrl, natsUrl: nats.url, reportPath, speed: 1, maxIdleMs: 0, tuned: false }));
  const env = { ...process.env, HAVOK_JOB_RATE: String(COPIES), HAVOK_LOG_LEVEL: 'warn' };
  const start = (...args: string[]): ChildProcess => ctx.track(spawn(process.execPath, [ctx.havokBin, ...args, '--config', config], { env, stdio: ['ignore', 'ignore', 'pipe'] }));

  const t0 = Date.now();
  const rss: Record<string, number[]> = {};
  const procs: Record<string, ChildProcess> = {};
  for (const [name, args] of [
    ['reporter', ['reporter']],
    ['router', ['router']],
    ['r1', ['replayer', '--id', 'r1']],
    ['r2', ['replayer', '--id', 'r2']],
    ['timewheel', ['timewheel']],
    ['fetcher', ['fetcher']],
  ] as const) {
    procs[name] = start(...args);
    rss[name] = [];
  }
  const reporterDone = new Promise<number | null>((r) => procs.reporter!.once('exit', (code) => r(code)));

  // Lateness per minute, from the replayers' interval histograms.
  const perMinute: Histogram[] = [];
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  nc.subscribe(subjects.stats('soak'), {
    callback: (_e, m) => {
      const st = decode(m.data, 'stats');
      const minute = Math.floor((Date.now() - t0) / 60_000);
      mergeWire((perMinute[minute] ??= newHistogram()), st.lateness);
    },
  });

  let kills = 0;
  let natsRestarted = false;
  let ended = false;
  void reporterDone.then(() => (ended = true));
  while (!ended) {
    await sleep(1000);
    const s = Math.floor((Date.now() - t0) / 1000);
    for (const [name, p] of Object.entries(procs)) {
      const m = p.pid ? readProcMemory(p.pid) : undefined;
      if (m) rss[name]![s] = round(m.rss / MB);
    }
    if (s > 0 && s % o.killEveryS === 0 && s < o.minutes * 60) {
      procs.r1!.kill('SIGKILL');
      procs.r1 = start('replayer', '--id', 'r1');
      kills++;
    }
    if (!natsRestarted && s >= (o.minutes * 60) / 2) {
      natsRestarted = true;
      ctx.log('soak: restarting nats-server');
      await nats.stop();
      nats = await startNatsServer({ storeDir, port });
    }
  }
  await nc.close().catch(() => undefined);
  for (const p of Object.values(procs)) p.kill('SIGTERM');
  await nats.stop();

  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as EndReport;
  const seconds = Math.floor((Date.now() - t0) / 1000);
  const windowS = Math.min(600, Math.floor(seconds / 3));
  const rows: Row[] = [];
  const flat: Record<string, { first_mb: number; last_mb: number; ratio: number }> = {};
  for (const name of LONG_LIVED) {
    const xs = rss[name]!;
    const first = mean(xs.slice(0, windowS).filter((x) => x !== undefined));
    const last = mean(xs.slice(Math.max(0, xs.length - windowS)).filter((x) => x !== undefined));
    flat[name] = { first_mb: round(first), last_mb: round(last), ratio: round(last / first, 3) };
    const ok = last <= first * (1 + FLAT_WITHIN);
    if (!ok) failures.push(`soak: ${name} RSS grew from ${round(first)} to ${round(last)} MB (over ${FLAT_WITHIN * 100}%)`);
    rows.push({ benchmark: `soak ${o.minutes} min: ${name} RSS, last ${windowS} s vs first`, figure: `${round(last)} MB${ok ? '' : ' (GREW)'}`, baseline: `${round(first)} MB`, ratio: fmtRatio(last, first) });
  }
  const latenessP99 = perMinute.map((h) => (h ? percentilesMs(h).p99 : NaN));
  rows.push({ benchmark: `soak ${o.minutes} min: lateness p99 per minute (ms)`, figure: latenessP99.map((x) => round(x)).join(' '), baseline: '—', ratio: '—' });
  const acc = report.accounting;
  if (!acc.records_close || !acc.requests_close) failures.push(`soak: accounting does not close: ${JSON.stringify(report.requests)}`);
  rows.push({
    benchmark: `soak ${o.minutes} min: requests at ${fmtN(o.rate)}/s, r1 killed ${kills}×, NATS restarted once`,
    figure: `sent ${fmtN(report.requests.sent)} of ${fmtN(report.requests.expected)}, dropped ${JSON.stringify(report.requests.dropped_by_reason)}`,
    baseline: 'accounting closes',
    ratio: acc.records_close && acc.requests_close ? 'yes' : 'NO',
  });
  notes.push(`soak: RSS windows of ${windowS} s; r1 (killed every ${o.killEveryS} s) is not among the actors judged flat`);
  return { rows, failures, notes, results: { minutes: o.minutes, rate: o.rate, kills, rss_flat: flat, lateness_p99_per_minute_ms: latenessP99, requests: report.requests, accounting: acc, rss_per_s: rss } };
}
