/**
 * What the traffic store keeps, as pure decisions the gateway (and a retention sweeper) call:
 *   - sampling at ingest, consistent per key: a line is kept when the hash of its key field falls
 *     under the rate, so a sampled user (session, trace…) keeps all of their requests — as
 *     GoReplay's header limiter (`hash(header) % 100 < percent`);
 *   - retention per repo by age and bytes over one shared stream: JetStream's limits are per
 *     stream, so each repo's history is summarised in a ledger of chunks (first/last sequence,
 *     bytes, newest stored time) and `retentionCut` says below which sequence the repo's lines
 *     go (purged with the repo's subject filter). Whole chunks only: a repo keeps at most one
 *     chunk more than its limits. With an age limit a chunk also spans at most 1/AGE_SLICES of
 *     it, so a repo that never fills a chunk still ages out. `RetentionBook` keeps the ledgers
 *     of every repo with limits and says what to purge at a given time (the clock is passed in).
 * Settings are checked by `repoKeepSchema` (zod), part of `[gateway.repos.<name>]`.
 */
import { z } from 'zod';
import { mixedHash } from '../../shared/hash.js';
import { fieldText, type JsonObject } from './line.js';

export const sampleSchema = z
  .object({
    /** Share of keys kept, 0 < rate ≤ 1 (1 = keep all). */
    rate: z.number().gt(0).lte(1),
    /** Field whose value decides (dotted names reach into objects, e.g. `headers.x-user`). */
    key: z.string().min(1),
    /** Lines without the key field: kept (default) or dropped. */
    missing: z.enum(['keep', 'drop']).default('keep'),
  })
  .strict();
export type SampleSettings = z.infer<typeof sampleSchema>;

export const repoKeepSchema = z
  .object({
    /** Field holding the trace id (default: trace_id, traceId, TraceId, traceparent). */
    trace_field: z.string().min(1).optional(),
    /** Drop this repo's lines older than this many ms; 0 = no age limit. */
    max_age_ms: z.number().int().nonnegative().default(0),
    /** Keep at most this many bytes of this repo's lines (newest first); 0 = no cap. */
    max_bytes: z.number().int().nonnegative().default(0),
    sample: sampleSchema.optional(),
  })
  .strict();
export type RepoKeepSettings = z.infer<typeof repoKeepSchema>;

/** 2^32: the hash's range. */
const HASH_RANGE = 0x1_0000_0000;

/**
 * Whether the gateway stores this line. Pure and stable: the same key value gets the same
 * answer on every gateway and every run; about `rate` of the distinct keys are kept.
 */
export function shouldSample(line: JsonObject, s: SampleSettings | undefined): boolean {
  if (!s || s.rate >= 1) return true;
  const v = fieldText(line, s.key);
  if (v === undefined || v === '') return s.missing === 'keep';
  return mixedHash(v) / HASH_RANGE < s.rate;
}

/** A run of one repo's stored messages (and the lines they hold). */
export interface LedgerChunk {
  first_seq: number;
  last_seq: number;
  bytes: number;
  /** Stored time of the chunk's first line, epoch ms. */
  oldest_ms: number;
  /** Newest stored time in the chunk, epoch ms. */
  newest_ms: number;
  /** Lines the chunk's messages hold. */
  count: number;
}

/** Lines per chunk: the granularity of retention (and the ledger's memory: bytes / this). */
export const LEDGER_CHUNK = 1000;

/** With an age limit, a chunk spans at most max_age_ms / AGE_SLICES of stored time. */
export const AGE_SLICES = 20;

/**
 * Adds one stored message (of `lines` lines) to a repo's ledger (oldest chunk first); returns
 * the ledger. A chunk closes once it holds `chunk` lines, or when the message was stored more
 * than `spanMs` after the chunk's first (Infinity = no time bound).
 */
export function addToLedger(ledger: LedgerChunk[], seq: number, bytes: number, storedMs: number, chunk = LEDGER_CHUNK, spanMs = Infinity, lines = 1): LedgerChunk[] {
  const last = ledger[ledger.length - 1];
  if (last && last.count < chunk && seq > last.last_seq && storedMs - last.oldest_ms <= spanMs) {
    last.last_seq = seq;
    last.bytes += bytes;
    last.newest_ms = Math.max(last.newest_ms, storedMs);
    last.count += lines;
  } else ledger.push({ first_seq: seq, last_seq: seq, bytes, oldest_ms: storedMs, newest_ms: storedMs, count: lines });
  return ledger;
}

/**
 * The sequence below which the repo's lines go (0 = keep all): whole chunks that are entirely
 * older than `max_age_ms`, or that lie beyond the newest `max_bytes`. The newest chunk is never
 * cut by bytes alone (a repo keeps its latest lines even when one chunk exceeds the cap).
 */
export function retentionCut(ledger: readonly LedgerChunk[], limits: Pick<RepoKeepSettings, 'max_age_ms' | 'max_bytes'>, now: number): number {
  let cut = 0;
  if (limits.max_age_ms > 0) {
    for (const c of ledger) {
      if (c.newest_ms >= now - limits.max_age_ms) break;
      cut = c.last_seq + 1;
    }
  }
  if (limits.max_bytes > 0) {
    let kept = 0;
    for (let i = ledger.length - 1; i >= 0; i--) {
      kept += ledger[i]!.bytes;
      if (kept > limits.max_bytes && i < ledger.length - 1) {
        cut = Math.max(cut, ledger[i]!.last_seq + 1);
        break;
      }
    }
  }
  return cut;
}

/** The ledger after a cut: chunks wholly below it are gone. */
export function dropBelow(ledger: readonly LedgerChunk[], cut: number): LedgerChunk[] {
  return ledger.filter((c) => c.last_seq >= cut);
}

export type RetentionLimits = Pick<RepoKeepSettings, 'max_age_ms' | 'max_bytes'>;

/** Which limit a cut enforces (the label of `havok_gateway_retention_purged_total`). */
export type RetentionReason = 'age' | 'bytes';

export interface RetentionCut {
  repo: string;
  /** The repo's lines with a lower sequence go. */
  cut: number;
  reason: RetentionReason;
  /** What the ledger says goes (the purge's own count is the truth). */
  lines: number;
  bytes: number;
}

/**
 * The retention state of the repos with limits: a ledger each, fed with every stored line of the
 * stream in sequence order (`see`), asked what to purge at a time (`due`), told what went
 * (`purged`, `forgetBelow`). Pure: no I/O, no clock.
 */
export class RetentionBook {
  private readonly ledgers = new Map<string, LedgerChunk[]>();

  constructor(
    private readonly limits: ReadonlyMap<string, RetentionLimits>,
    private readonly chunk = LEDGER_CHUNK,
  ) {
    for (const repo of limits.keys()) this.ledgers.set(repo, []);
  }

  /** The repos it keeps ledgers for. */
  get repos(): string[] {
    return [...this.ledgers.keys()];
  }

  /** One stored message of the stream (payload bytes, stored time, lines it holds); other repos' are ignored. */
  see(repo: string, seq: number, bytes: number, storedMs: number, lines = 1): void {
    const ledger = this.ledgers.get(repo);
    if (!ledger) return;
    const maxAge = this.limits.get(repo)!.max_age_ms;
    addToLedger(ledger, seq, bytes, storedMs, this.chunk, maxAge > 0 ? Math.max(1, Math.floor(maxAge / AGE_SLICES)) : Infinity, lines);
  }

  /** What to purge at `now`: per repo, the larger of its age and byte cuts, when it removes anything. */
  due(now: number): RetentionCut[] {
    const out: RetentionCut[] = [];
    for (const [repo, ledger] of this.ledgers) {
      const l = this.limits.get(repo)!;
      const byAge = retentionCut(ledger, { max_age_ms: l.max_age_ms, max_bytes: 0 }, now);
      const byBytes = retentionCut(ledger, { max_age_ms: 0, max_bytes: l.max_bytes }, now);
      const cut = Math.max(byAge, byBytes);
      const going = ledger.filter((c) => c.last_seq < cut);
      if (going.length === 0) continue;
      out.push({ repo, cut, reason: byBytes > byAge ? 'bytes' : 'age', lines: going.reduce((a, c) => a + c.count, 0), bytes: going.reduce((a, c) => a + c.bytes, 0) });
    }
    return out;
  }

  /** The repo's lines below `cut` are gone. */
  purged(repo: string, cut: number): void {
    const ledger = this.ledgers.get(repo);
    if (ledger) this.ledgers.set(repo, dropBelow(ledger, cut));
  }

  /** The stream's first sequence: lines below it are gone for every repo (the stream's own limits). */
  forgetBelow(firstSeq: number): void {
    for (const repo of this.ledgers.keys()) this.purged(repo, firstSeq);
  }

  /** Bytes and lines the ledger holds for a repo. */
  held(repo: string): { lines: number; bytes: number } {
    const ledger = this.ledgers.get(repo) ?? [];
    return { lines: ledger.reduce((a, c) => a + c.count, 0), bytes: ledger.reduce((a, c) => a + c.bytes, 0) };
  }
}
