/**
 * What the traffic store keeps, as pure decisions the gateway (and a retention sweeper) call:
 *   - sampling at ingest, consistent per key: a line is kept when the hash of its key field falls
 *     under the rate, so a sampled user (session, trace…) keeps all of their requests — as
 *     GoReplay's header limiter (`hash(header) % 100 < percent`);
 *   - retention per repo by age and bytes over one shared stream: JetStream's limits are per
 *     stream, so each repo's history is summarised in a ledger of chunks (first/last sequence,
 *     bytes, newest stored time) and `retentionCut` says below which sequence the repo's lines
 *     go (purged with the repo's subject filter). Whole chunks only: a repo keeps at most one
 *     chunk more than its limits.
 * Settings are checked by `repoKeepSchema` (zod), meant for `[gateway.repos.<name>]`.
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

/** A run of one repo's stored lines. */
export interface LedgerChunk {
  first_seq: number;
  last_seq: number;
  bytes: number;
  /** Newest stored time in the chunk, epoch ms. */
  newest_ms: number;
  count: number;
}

/** Lines per chunk: the granularity of retention (and the ledger's memory: bytes / this). */
export const LEDGER_CHUNK = 1000;

/** Adds one stored line to a repo's ledger (oldest chunk first); returns the ledger. */
export function addToLedger(ledger: LedgerChunk[], seq: number, bytes: number, storedMs: number, chunk = LEDGER_CHUNK): LedgerChunk[] {
  const last = ledger[ledger.length - 1];
  if (last && last.count < chunk && seq > last.last_seq) {
    last.last_seq = seq;
    last.bytes += bytes;
    last.newest_ms = Math.max(last.newest_ms, storedMs);
    last.count++;
  } else ledger.push({ first_seq: seq, last_seq: seq, bytes, newest_ms: storedMs, count: 1 });
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
