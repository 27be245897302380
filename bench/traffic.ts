/**
 * Phase `traffic` (issue 17): the traffic store on a stream of stored lines, in this process
 * against the bench's nats-server.
 *   - ingest baseline: the lines published (plain publishes, then the stream's count checked);
 *   - the trace indexer catching up with the whole stream: records/s against the ingest rate;
 *   - a trace-id lookup (index + reading each record by sequence): latency p50/p99 over many
 *     ids, against one stored-message read by sequence (the floor of any lookup);
 *   - a repo + method query over a 1-minute range (newest 100): latency p50/p99;
 *   - a predicate scan that no subject can narrow (a field nobody has) over the whole stream:
 *     records/s, against a bare read of the same stream (no decoding, no predicate).
 * Data: test/support/traffic-lines.ts's generator (4 repos, 7 methods, trace ids).
 */
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { newHistogram, percentilesMs, recordMs } from '../shared/histogram.js';
import { TRAFFIC_STREAM } from '../shared/protocol.js';
import { compileFilter, parseFilter } from '../services/traffic/filter.js';
import { queryTraffic } from '../services/traffic/query.js';
import { scanLines, type TrafficStreamClient } from '../services/traffic/scan.js';
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
  bare_read_per_s: number;
}

const LOOKUPS = 200;
const QUERIES = 50;
/** Lines generated and published per round (memory stays bounded for 5,000,000 lines). */
const ROUND = 250_000;

export async function runTrafficBench(natsUrl: string, lines: number, log: (s: string) => void): Promise<{ result: TrafficBenchResult; rows: Row[] }> {
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
    const idx = await runTraceIndexer({ nc, js: c.js, jsm, stream, log: pino({ level: 'silent' }), untilCaughtUp: true, batch: 5000 });
    const indexPerS = idx.read / ((performance.now() - t) / 1000);
    log(`traffic: indexed ${fmtN(idx.read)} lines at ${fmtN(indexPerS)}/s`);

    const now = Date.now();
    const lookup = newHistogram();
    const read = newHistogram();
    for (let i = 0; i < LOOKUPS; i++) {
      const k = Math.floor((i * 7919) % traces);
      let s = performance.now();
      await queryTraffic(c, compileFilter(parseFilter({ trace_id: traceOf(k) }, { now })), { limit: 1000 });
      recordMs(lookup, performance.now() - s);
      s = performance.now();
      await jsm.streams.getMessage(stream, { seq: 1 + ((i * 104_729) % lines) });
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

    t = performance.now();
    const scan = await queryTraffic(c, compileFilter(parseFilter({ 'field.user': 'nobody' }, { now })), { order: 'oldest', scanBudget: lines });
    const scanPerS = scan.scanned / ((performance.now() - t) / 1000);
    t = performance.now();
    let bare = 0;
    for await (const _ of scanLines(c, { subject: 'havok.traffic.>' })) bare++;
    const barePerS = bare / ((performance.now() - t) / 1000);
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
      bare_read_per_s: Math.round(barePerS),
    };
    const label = `traffic, ${fmtN(lines)} stored lines`;
    const rows: Row[] = [
      { benchmark: `${label}: trace indexer`, figure: `${fmtN(indexPerS)} lines/s`, baseline: `ingest (plain publish) ${fmtN(ingestPerS)} lines/s`, ratio: fmtRatio(indexPerS, ingestPerS) },
      { benchmark: `${label}: trace-id lookup p50 / p99`, figure: `${result.trace_lookup_ms.p50} / ${result.trace_lookup_ms.p99} ms`, baseline: `one read by seq ${result.stored_read_ms.p50} / ${result.stored_read_ms.p99} ms`, ratio: 'target ≤ 100 ms' },
      { benchmark: `${label}: repo+method 1-minute query (newest 100) p50 / p99`, figure: `${result.minute_query_ms.p50} / ${result.minute_query_ms.p99} ms`, baseline: '—', ratio: 'target ≤ 100 ms' },
      { benchmark: `${label}: predicate scan (not narrowable)`, figure: `${fmtN(scanPerS)} records/s`, baseline: `bare read ${fmtN(barePerS)} records/s`, ratio: `${fmtRatio(scanPerS, barePerS)} (target ≥ 500,000/s)` },
    ];
    return { result, rows };
  } finally {
    await nc.close();
  }
}

const pick = (p: { p50: number; p99: number }): { p50: number; p99: number } => ({ p50: round1(p.p50), p99: round1(p.p99) });
const round1 = (x: number): number => Math.round(x * 10) / 10;
