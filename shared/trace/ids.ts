/**
 * Trace and span ids from a pool of crypto-random bytes: one `randomFillSync` per 256 requests
 * instead of one per id, and the hex strings are the only allocation per request (replayer hot
 * path). Ids are never all zero (invalid in W3C and B3).
 */
import { randomFillSync } from 'node:crypto';

/** Bytes of one trace id (16) and one span id (8). */
const TRACE_BYTES = 16;
const SPAN_BYTES = 8;
const POOL_BYTES = 256 * (TRACE_BYTES + SPAN_BYTES);

export class IdPool {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private at = POOL_BYTES;

  /** 32 lower-case hex digits. */
  traceId(): string {
    return this.hex(TRACE_BYTES);
  }

  /** 16 lower-case hex digits. */
  spanId(): string {
    return this.hex(SPAN_BYTES);
  }

  private hex(n: number): string {
    if (this.at + n > POOL_BYTES) {
      randomFillSync(this.pool);
      this.at = 0;
    }
    const start = this.at;
    this.at += n;
    // All zero has probability 2^-64 or less; set the last bit rather than draw again.
    let zero = true;
    for (let i = start; i < start + n && zero; i++) zero = this.pool[i] === 0;
    if (zero) this.pool[start + n - 1] = 1;
    return this.pool.toString('hex', start, start + n);
  }
}
