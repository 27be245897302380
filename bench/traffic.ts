/**
 * Phase `traffic` (issue 17): the traffic store on a stream of stored lines, in this process
 * against the bench's nats-server.
 *   - ingest baseline: the lines published (plain publishes, then the stream's count checked);
 *   - the trace indexer catching up with the whole stream: records/s against the ingest rate;
 *   - a trace-id lookup (index + reading each record's message by sequence): latency p50/p99
 *     over many ids, against one stored-message read by sequence (the floor of any lookup);
 *   - a repo + method query over a 1-minute range (newest 100): latency p50/p99;
 *   - a predicate scan that no subject can narrow (a field nobody has) over the whole stream:
 *     records/s, against a bare read of the same stream (messages split into lines, no decoding,
 *     no predicate); once with
 *     an equality (its literal is checked in the bytes, lines without it are not decoded) and
 *     once with a regex (every line decoded).
 * Data: test/support/traffic-lines.ts's generator (4 repos, 7 methods, trace ids), stored as the
 * gateway stores it (POSTs of 1,000 lines packed per subject, test/support/traffic.ts).
 */
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { newHistogram, percentilesMs, recordMs } from '../shared/histogram.js';
import { TRAFFIC_STREAM, trafficLines as linesOfMessage } from '../shared/protocol.js';
import { compileFilter, parseFilter } from '../services/traffic/filter.js';
import { queryTraffic } from '../services/traffic/query.js';
import { scanEach, type TrafficStreamClient } from '../services/traffic/scan.js';
import { runTraceIndexer } from '../services/traffic/trace-index.js';
import { publishTrafficFast } from '../test/support/traffic.js';
import { traceOf, trafficLines } from '../test/support/traffic-lines.js';
import { fmtN, fmtRatio, type Row } from './rows.js';

export interface TrafficBenchResult {
  lines: number;
  ingest_per_s: number;
  index_per_s: number;
  trace_lookup_ms: { p50: number; p99: number };
  stored_read_ms: { p50: number; p99: number };
  minute_query_ms: { p50: number; p99: number };
  minute_query_records: number;
  scan_per_s: number;
  regex_scan_per_s: number;
  bare_read_per_s: number;
  /**
   * CPU per record scanned, µs, of this process (decode, predicate) and of nats-server
   * (delivery): on a shared machine the wall-clock rates above depend on the neighbours, these
   * do much less; 1e6 / max(client, server) is the rate with a core each.
   */
  scan_cpu_us: CpuSplit;
  regex_scan_cpu_us: CpuSplit;
  bare_read_cpu_us: CpuSplit;
}

/** CPU µs per record of this process and of nats-server. */
interface CpuSplit {
  client: number;
  server: number;
}

const LOOKUPS = 200;
const QUERIES = 50;
/** Lines generated and published per round (memory stays bounded for 5,000,000 lines). */
const ROUND = 250_000;

/** CPU-seconds of a process so far, from /proc (0 without it). */
function procCpuS(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Runs `fn` (which returns records handled) and measures records/s and CPU µs per record. */
async function scanCost(natsPid: number | undefined, fn: () => Promise<number>): Promise<{ perS: number; cpu: CpuSplit }> {
  const t = performance.now();
  const c0 = process.cpuUsage();
  const s0 = procCpuS(natsPid);
  const n = await fn();
  const wall = (performance.now() - t) / 1000;
  const c = process.cpuUsage(c0);
  return { perS: n / wall, cpu: { client: round1((c.user + c.system) / n), server: round1(((procCpuS(natsPid) - s0) * 1e6) / n) } };
}

export async function runTrafficBench(natsUrl: string, lines: number, log: (s: string) => void, natsPid?: number): Promise<{ result: TrafficBenchResult; rows: Row[] }> {
  const nc = await connect({ servers: natsUrl });
  try {
    const stream = `${TRAFFIC_STREAM}_BENCH`;
    const jsm = await jetstreamManager(nc);
    // The bench's own stream name; `havok.traffic.>` is the contract's subject space.
    await jsm.streams.delete(stream).catch(() => undefined);
    await jsm.streams.add({ name: stream, subjects: ['havok.traffic.>'], retention: RetentionPolicy.Limits, storage: StorageType.File });
    const c: TrafficStreamClient = { js: jetstream(nc), jsm, stream };
    const traces = Math.max(1, Math.floor(lines / 20));

    let t = performance.now();
    let stored = 0;
    const minute: number[] = [];
    for (let round = 0; stored < lines; round++) {
      const n = Math.min(ROUND, lines - stored);
      const out = await publishTrafficFast(nc, c, trafficLines(n, { seed: 100 + round, traces }));
      stored += n;
      minute.push(out[0]!.line.received_ms as number);
      log(`traffic: ${fmtN(stored)} lines stored`);
    }
    const ingestPerS = lines / ((performance.now() - t) / 1000);

    t = performance.now();
    const idx = await runTraceIndexer({ nc, js: c.js, jsm, stream, log: pino({ level: 'silent' }), untilCaughtUp: true });
    const indexPerS = idx.read / ((performance.now() - t) / 1000);
    log(`traffic: indexed ${fmtN(idx.read)} lines at ${fmtN(indexPerS)}/s`);

    const now = Date.now();
    const messages = (await jsm.streams.info(stream)).state.messages;
    log(`traffic: ${fmtN(lines)} lines in ${fmtN(messages)} messages`);
    const lookup = newHistogram();
    const read = newHistogram();
    for (let i = 0; i < LOOKUPS; i++) {
      const k = Math.floor((i * 7919) % traces);
      let s = performance.now();
      await queryTraffic(c, compileFilter(parseFilter({ trace_id: traceOf(k) }, { now })), { limit: 1000 });
      recordMs(lookup, performance.now() - s);
      s = performance.now();
      await jsm.streams.getMessage(stream, { seq: 1 + ((i * 104_729) % messages) });
      recordMs(read, performance.now() - s);
    }

    // 1-minute ranges starting where rounds started (spread over the stream).
    const q = newHistogram();
    let records = 0;
    for (let i = 0; i < QUERIES; i++) {
      const from = minute[i % minute.length]!;
      const f = compileFilter(parseFilter({ repo: 'shop', method: 'POST', since: String(from), until: String(from + 60_000) }, { now }));
      const s = performance.now();
      const r = await queryTraffic(c, f, { limit: 100 });
      recordMs(q, performance.now() - s);
      records = r.records.length;
    }

    const scan = await scanCost(natsPid, async () => (await queryTraffic(c, compileFilter(parseFilter({ 'field.user': 'nobody' }, { now })), { order: 'oldest', scanBudget: lines })).scanned);
    const regexScan = await scanCost(natsPid, async () => (await queryTraffic(c, compileFilter(parseFilter({ 'field.user': '/^nobody$/' }, { now })), { order: 'oldest', scanBudget: lines })).scanned);
    const bare = await scanCost(natsPid, async () => {
      let n = 0;
      // Messages split into lines (views of the bytes): what every reader does first.
      await scanEach(c, { subject: 'havok.traffic.>' }, Infinity, (m) => void (n += linesOfMessage(m.data).length));
      return n;
    });
    const scanPerS = scan.perS;
    const regexScanPerS = regexScan.perS;
    const barePerS = bare.perS;
    await jsm.streams.delete(stream).catch(() => undefined);

    const result: TrafficBenchResult = {
      lines,
      ingest_per_s: Math.round(ingestPerS),
      index_per_s: Math.round(indexPerS),
      trace_lookup_ms: pick(percentilesMs(lookup)),
      stored_read_ms: pick(percentilesMs(read)),
      minute_query_ms: pick(percentilesMs(q)),
      minute_query_records: records,
      scan_per_s: Math.round(scanPerS),
      regex_scan_per_s: Math.round(regexScanPerS),
      bare_read_per_s: Math.round(barePerS),
      scan_cpu_us: scan.cpu,
      regex_scan_cpu_us: regexScan.cpu,
      bare_read_cpu_us: bare.cpu,
    };
    const label = `traffic, ${fmtN(lines)} stored lines`;
    const rows: Row[] = [
      { benchmark: `${label}: trace indexer`, figure: `${fmtN(indexPerS)} lines/s`, baseline: `ingest (plain publish) ${fmtN(ingestPerS)} lines/s`, ratio: fmtRatio(indexPerS, ingestPerS) },
      { benchmark: `${label}: trace-id lookup p50 / p99`, figure: `${result.trace_lookup_ms.p50} / ${result.trace_lookup_ms.p99} ms`, baseline: `one read by seq ${result.stored_read_ms.p50} / ${result.stored_read_ms.p99} ms`, ratio: 'target ≤ 100 ms' },
      { benchmark: `${label}: repo+method 1-minute query (newest 100) p50 / p99`, figure: `${result.minute_query_ms.p50} / ${result.minute_query_ms.p99} ms`, baseline: '—', ratio: 'target ≤ 100 ms' },
      { benchmark: `${label}: predicate scan (not narrowable, field = value)`, figure: `${fmtN(scanPerS)} records/s`, baseline: `bare read ${fmtN(barePerS)} records/s`, ratio: `${fmtRatio(scanPerS, barePerS)} (target ≥ 500,000/s)` },
      { benchmark: `${label}: predicate scan (not narrowable, field = /regex/: every line decoded)`, figure: `${fmtN(regexScanPerS)} records/s`, baseline: `bare read ${fmtN(barePerS)} records/s`, ratio: `${fmtRatio(regexScanPerS, barePerS)} (target ≥ 500,000/s)` },
      {
        benchmark: `${label}: scan CPU per record, this process / nats-server (field = value; /regex/; bare read)`,
        figure: `${scan.cpu.client} / ${scan.cpu.server}; ${regexScan.cpu.client} / ${regexScan.cpu.server}; ${bare.cpu.client} / ${bare.cpu.server} µs`,
        baseline: '—',
        ratio: `a core each: ${fmtN(1e6 / Math.max(scan.cpu.client, scan.cpu.server))}; ${fmtN(1e6 / Math.max(regexScan.cpu.client, regexScan.cpu.server))}; ${fmtN(1e6 / Math.max(bare.cpu.client, bare.cpu.server))} records/s`,
      },
    ];
    return { result, rows };
  } finally {
    await nc.close();
  }
}

const pick = (p: { p50: number; p99: number }): { p50: number; p99: number } => ({ p50: round1(p.p50), p99: round1(p.p99) });
const round1 = (x: number): number => Math.round(x * 10) / 10;
