/**
 * `--only gateway` (issue 16): the ingest gateway into JetStream, against a bare JetStream
 * publisher of the same lines on the same nats-server in the same run.
 *
 * - baselines: one NATS client publishing 1,000-line batches, `connections` batches in flight,
 *   the batch's acks awaited together: every line a JetStream publish (the baseline), and
 *   the batch packed per subject as the gateway stores it (the floor of its design);
 * - gateway: `havok gateway` (its own process) under autocannon POSTing the same 1,000-line body
 *   on `connections` connections for `seconds`: lines/s stored (2xx × 1,000 / s), POST p50/p99,
 *   and the gateway's peak RSS (VmHWM);
 * - replay: reading the stored lines back through the jetstream source against reading the same
 *   lines from a file through the file source (records/s, in this process, untimed).
 */
import autocannon, { type Result as AutocannonResult } from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { openSources } from '../services/fetcher/source.js';
import { actorNodeFlags } from '../services/local/local.js';
import { startNatsServer } from '../services/local/nats-server.js';
import type { PhaseOutput } from './nginx-phase.js';
import { fmtN, fmtRatio, type Row } from './rows.js';
import { packLines } from '../services/gateway/outputs/pack.js';
import { TRAFFIC_MAX_LINES } from '../shared/protocol.js';
import { freePort } from '../shared/ports.js';

export interface GatewayPhaseContext {
  dir: string;
  havokBin: string;
  seconds: number;
  connections: number;
  track(c: ChildProcess): ChildProcess;
  log(msg: string): void;
}

const LINES = 1000;
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** A 1,000-line body of request lines, as an edge node would send; each carries a W3C traceparent (the trace index's work). */
function body(): string {
  const t0 = Date.UTC(2024, 0, 1);
  const trace = (i: number): string => `00-${(0xabc00000 + i).toString(16).padStart(32, '0')}-00f067aa0ba902b7-01`;
  return Array.from({ length: LINES }, (_, i) => JSON.stringify({ ts: t0 + i, method: i % 5 ? 'GET' : 'POST', url: `/items/${i}?q=${i % 17}`, headers: { 'user-agent': 'bench', 'x-request-id': `r-${i}`, traceparent: trace(i) }, ...(i % 5 ? {} : { body: '{"qty":1}' }) })).join('\n') + '\n';
}

function vmHwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? round(Number(m[1]) / 1024) : 0;
}

async function recordsPerSecond(cfgPath: string, set: string[]): Promise<{ records: number; rps: number }> {
  const cfg = loadConfig({ file: cfgPath, set });
  const log = createLogger('bench');
  log.level = 'silent';
  const started = performance.now();
  let records = 0;
  for (const s of await openSources(cfg, { log })) for await (const _ of s.records) records++;
  return { records, rps: round(records / ((performance.now() - started) / 1000)) };
}

export async function runGatewayPhase(ctx: GatewayPhaseContext): Promise<PhaseOutput> {
  const rows: Row[] = [];
  const failures: string[] = [];
  const notes: string[] = [];
  const text = body();
  const lines = text.trimEnd().split('\n');
  const nats = await startNatsServer({ jetstream: true });
  try {
    // Baseline: the bare publisher, for as long as the gateway run.
    const nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.add({ name: 'BENCH_BARE', subjects: ['bench.bare.>'] });
    const js = jetstream(nc);
    /** Lines/s of `connections` publishers each storing one 1,000-line batch after another for `seconds`. */
    const linesPerSecond = async (storeBatch: () => Promise<unknown>): Promise<number> => {
      let done = 0;
      const start = performance.now();
      const end = start + ctx.seconds * 1000;
      await Promise.all(
        Array.from({ length: ctx.connections }, async () => {
          while (performance.now() < end) {
            await storeBatch();
            done += LINES;
          }
        }),
      );
      return round(done / ((performance.now() - start) / 1000));
    };
    const bareRate = await linesPerSecond(() => Promise.all(lines.map((l) => js.publish('bench.bare.web.GET', l))));
    // The floor of the gateway's design: the same lines packed per subject as the gateway
    // stores them (a message per subject per POST), published bare.
    const packed = packLines(lines.map((l, index) => ({ index, subject: `bench.bare.web.${index % 5 ? 'GET' : 'POST'}`, payload: l })), 1024 * 1024 - 1024, TRAFFIC_MAX_LINES);
    const packedRate = await linesPerSecond(() => Promise.all(packed.map((m) => js.publish(m.subject, m.payload))));
    await nc.close();
    ctx.log(`gateway: bare JetStream publisher ${fmtN(bareRate)} lines/s (a message per line), ${fmtN(packedRate)} lines/s (packed per subject)`);

    // The gateway under autocannon: with the trace index (the default), then without.
    const run = async (indexTraces: boolean): Promise<{ r: AutocannonResult; rss: number; rate: number }> => {
      const port = await freePort();
      const cfgPath = join(ctx.dir, `gateway-bench-${indexTraces}.toml`);
      writeFileSync(cfgPath, `[nats]\nurl = "${nats.url}"\n[gateway]\nlisten = "127.0.0.1:${port}"\nindex_traces = ${indexTraces}\n[gateway.repos.web]\n`);
      // With the Node flags `havok local` gives the gateway (services/local/local.ts), so RSS is its working set.
      const flags = actorNodeFlags('gateway', loadConfig({ file: cfgPath }));
      const gw = ctx.track(spawn(process.execPath, [...flags, ctx.havokBin, 'gateway', '--config', cfgPath], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HAVOK_LOG_LEVEL: 'warn' } }));
      const url = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        if ((await fetch(`${url}/metrics`).then((res) => res.ok, () => false)) === true) break;
        if (i > 300) throw new Error('gateway did not start in 30 s');
        await new Promise((res) => setTimeout(res, 100));
      }
      const r = await autocannon({ url: `${url}/log/repo/web`, method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: text, connections: ctx.connections, duration: ctx.seconds, timeout: 30 });
      const rss = vmHwmMb(gw.pid!);
      const exited = new Promise((res) => gw.once('exit', res));
      gw.kill('SIGTERM');
      await exited;
      const rate = round((r['2xx'] * LINES) / r.duration);
      ctx.log(`gateway${indexTraces ? '' : ' (index_traces = false)'}: ${fmtN(rate)} lines/s, POST p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms, peak RSS ${rss} MB, non-2xx ${r.non2xx}, errors ${r.errors}`);
      if (r.errors + r.timeouts > 0) failures.push(`gateway: ${r.errors} errors and ${r.timeouts} timeouts under autocannon`);
      if (r.non2xx) notes.push(`gateway: ${r.non2xx} POSTs answered non-2xx (503 = backpressure) during the run`);
      return { r, rss, rate };
    };
    const { r, rss, rate: gwRate } = await run(true);
    const plain = await run(false);
    rows.push(
      { benchmark: `gateway: lines/s stored (1,000-line POSTs, ${ctx.connections} connections)`, figure: fmtN(gwRate), baseline: `${fmtN(bareRate)} (bare JetStream publisher, a message per line)`, ratio: fmtRatio(gwRate, bareRate) },
      { benchmark: 'gateway: the same, against the packed floor', figure: fmtN(gwRate), baseline: `${fmtN(packedRate)} (bare publisher of the same messages the gateway stores)`, ratio: fmtRatio(gwRate, packedRate) },
      { benchmark: 'gateway: POST latency p50 / p99', figure: `${r.latency.p50} / ${r.latency.p99} ms`, baseline: 'target p99 ≤ 50 ms', ratio: '—' },
      { benchmark: 'gateway: peak RSS', figure: `${rss} MB`, baseline: 'target ≤ 150 MB', ratio: fmtRatio(rss, 150) },
      { benchmark: 'gateway: the trace index\'s cost (lines/s with it ÷ without)', figure: fmtN(gwRate), baseline: `${fmtN(plain.rate)} (index_traces = false; p99 ${plain.r.latency.p99} ms)`, ratio: fmtRatio(gwRate, plain.rate) },
    );

    // Replay: the stored lines through the jetstream source vs the same count from a file.
    const stored = (r['2xx'] + plain.r['2xx']) * LINES;
    const logPath = join(ctx.dir, 'gateway-lines.jsonl');
    writeFileSync(logPath, Array.from({ length: Math.ceil(stored / LINES) }, () => text).join(''));
    const job = join(ctx.dir, 'gateway-replay.toml');
    writeFileSync(job, `[fetcher.file]\npath = "${logPath}"\nformat = "jsonl"\n[fetcher.jetstream]\nrepo = "web"\n[nats]\nurl = "${nats.url}"\n`);
    const fromStream = await recordsPerSecond(job, ['fetcher.type="jetstream"']);
    const fromFile = await recordsPerSecond(job, ['fetcher.type="file"']);
    ctx.log(`gateway: replay read ${fmtN(fromStream.records)} records at ${fmtN(fromStream.rps)}/s from the stream, ${fmtN(fromFile.rps)}/s from a file`);
    rows.push({ benchmark: `gateway: records/s read back by the jetstream source (${fmtN(fromStream.records)})`, figure: fmtN(fromStream.rps), baseline: `${fmtN(fromFile.rps)} (file source, same lines)`, ratio: fmtRatio(fromStream.rps, fromFile.rps) });
    // autocannon counts the answers within its duration; POSTs still in flight then are stored too.
    if (fromStream.records < stored) failures.push(`gateway: the stream replayed ${fromStream.records} records, ${stored} were acknowledged`);
    return { rows, failures, notes, results: { bare_lines_per_s: bareRate, bare_packed_lines_per_s: packedRate, gateway_lines_per_s: gwRate, gateway_no_index_lines_per_s: plain.rate, post_p50_ms: r.latency.p50, post_p99_ms: r.latency.p99, peak_rss_mb: rss, non2xx: r.non2xx, stored, replay_stream_rps: fromStream.rps, replay_file_rps: fromFile.rps } };
  } finally {
    await nats.stop();
  }
}
