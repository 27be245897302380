/**
 * What `havok traffic query|show|stats|index` do (cli/traffic.ts declares them): connect, run
 * the store's functions, print. Records and counts go to stdout; notes a reader must not miss
 * (scan budget reached, the cursor of the next page, expired index entries, a stale index) go
 * to stderr, so `--json` output stays pure JSON lines.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { authError, isAuthError, natsOptions } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import { TRAFFIC_STREAM } from '../../shared/protocol.js';
import { compileFilter, parseFilter, rawFromFlags, type FilterFlags } from './filter.js';
import { queryTraffic, RecordNotFoundError, showRecord, type QueryOptions, type QueryResult, type TrafficRecord } from './query.js';
import type { TrafficStreamClient } from './scan.js';
import { formatStats, trafficStats } from './stats.js';
import { runTraceIndexer } from './trace-index.js';

interface StoreFlags extends FilterFlags {
  stream?: string;
  traceField?: string;
  json?: boolean;
}

export class TrafficCliError extends Error {
  override readonly name = 'TrafficCliError' as const;
}

async function open(cfg: HavokConfig, flags: StoreFlags): Promise<TrafficStreamClient & { nc: NatsConnection }> {
  let nc: NatsConnection;
  try {
    nc = await connect({ ...natsOptions(cfg.nats, 'havok-traffic'), maxReconnectAttempts: 0, timeout: 5000 });
  } catch (err) {
    if (isAuthError(err)) throw authError(cfg.nats, err);
    throw new TrafficCliError(`cannot reach NATS at ${cfg.nats.url}: ${(err as Error).message}`, { cause: err });
  }
  const stream = flags.stream ?? TRAFFIC_STREAM;
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(stream);
  } catch (err) {
    await nc.close();
    throw new TrafficCliError(`no traffic stream ${stream} on ${cfg.nats.url} (${(err as Error).message}); has the gateway stored anything?`, { cause: err });
  }
  return { nc, js: jetstream(nc), jsm, stream };
}

async function withOpen<T>(cfg: HavokConfig, flags: StoreFlags, fn: (c: TrafficStreamClient & { nc: NatsConnection }) => Promise<T>): Promise<T> {
  const c = await open(cfg, flags);
  try {
    return await fn(c);
  } finally {
    await c.nc.close();
  }
}

const compiled = (flags: StoreFlags) => compileFilter(parseFilter(rawFromFlags(flags), { now: Date.now() }), flags.traceField ? { traceField: flags.traceField } : {});
const iso = (ms: number | undefined): string => (ms === undefined ? '-'.padEnd(24) : new Date(ms).toISOString());

export function formatRecord(r: TrafficRecord): string {
  return [r.id.padStart(11), iso(r.time_ms ?? r.stored_ms), r.repo.padEnd(12), (r.method || '_').padEnd(7), String(r.status ?? '-').padEnd(3), r.url, r.trace_id ?? ''].join('  ').trimEnd();
}

/** Notes for stderr: nothing the query did is left unsaid. */
export function queryNotes(r: QueryResult): string[] {
  const notes: string[] = [];
  if (r.budget_hit) notes.push(`scan budget reached after ${r.scanned} records: the range goes on${r.cursor ? `; continue with --cursor ${r.cursor}` : ''}`);
  else if (r.cursor) notes.push(`more records may follow: --cursor ${r.cursor}`);
  if (r.expired?.length) notes.push(`${r.expired.length} indexed record(s) have expired (aged out of the stream): ${r.expired.slice(0, 10).join(', ')}${r.expired.length > 10 ? ', …' : ''}`);
  if (r.index && !r.index.current) notes.push(`trace index is at ${r.index.watermark} of ${r.index.last_seq}; the rest was scanned (is \`havok traffic index\` running?)`);
  if (r.malformed) notes.push(`${r.malformed} stored record(s) are not JSON objects (skipped)`);
  return notes;
}

export async function queryCommand(cfg: HavokConfig, flags: StoreFlags, opts: QueryOptions): Promise<number> {
  const f = compiled(flags);
  return withOpen(cfg, flags, async (c) => {
    const traceField = flags.traceField;
    const r = await queryTraffic(c, f, { ...clean(opts), ...(traceField ? { traceFieldOf: () => traceField } : {}) });
    process.stdout.write(r.records.map((x) => (flags.json ? JSON.stringify(x) : formatRecord(x))).join('\n') + (r.records.length ? '\n' : ''));
    const notes = queryNotes(r);
    if (!flags.json && !r.records.length) notes.unshift('no matching records');
    if (notes.length) process.stderr.write(notes.map((n) => `havok traffic: ${n}\n`).join(''));
    return 0;
  });
}

const clean = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

export async function showCommand(cfg: HavokConfig, flags: StoreFlags, seq: number, line: number): Promise<number> {
  return withOpen(cfg, flags, async (c) => {
    try {
      process.stdout.write(JSON.stringify(await showRecord(c, seq, line), null, 2) + '\n');
      return 0;
    } catch (err) {
      if (!(err instanceof RecordNotFoundError)) throw err;
      process.stderr.write(`havok traffic: ${err.message}\n`);
      return 1;
    }
  });
}

export async function statsCommand(cfg: HavokConfig, flags: StoreFlags, scanBudget: number | undefined): Promise<number> {
  const f = compiled(flags);
  return withOpen(cfg, flags, async (c) => {
    const s = await trafficStats(c, f, scanBudget ? { scanBudget } : {});
    process.stdout.write((flags.json ? JSON.stringify(s, null, 2) : formatStats(s)) + '\n');
    if (s.budget_hit) process.stderr.write(`havok traffic: scan budget reached after ${s.scanned} records: the counts cover part of the range; narrow the filter or raise --scan-budget\n`);
    return 0;
  });
}

export async function indexCommand(cfg: HavokConfig, flags: StoreFlags, once: boolean): Promise<number> {
  return withOpen(cfg, flags, async (c) => {
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const traceField = flags.traceField;
      const stats = await runTraceIndexer({
        ...c,
        log: createLogger('traffic-index'),
        signal: stop.signal,
        untilCaughtUp: once,
        // Another trace field than the gateway's: the ids it listed do not apply.
        ...(traceField ? { traceFieldOf: () => traceField, trustHeaders: false } : {}),
      });
      process.stdout.write(`indexed ${stats.indexed} trace entries from ${stats.read} records in ${stats.messages} messages (${stats.malformed} malformed); watermark ${stats.watermark}\n`);
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}
