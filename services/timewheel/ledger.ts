/**
 * Which stream messages may be acknowledged. A batch from the job stream is acked only once
 * every record in it has been released, filtered or counted as never sent — and after the
 * checkpoint recording that has been saved — so a time wheel killed at any moment finds every
 * unreleased record still in the stream. Pure bookkeeping; the caller does the acks.
 */
import type { LogRecord } from '../../shared/protocol.js';

interface BatchRef<M> {
  msg: M;
  id: string;
  remaining: number;
}

export class AckLedger<M> {
  private readonly byRecord = new Map<LogRecord, BatchRef<M>>();
  /** Batches being worked on, by `src:batch`: a redelivered copy of one is ignored. */
  private readonly open = new Set<string>();
  private ready: M[] = [];

  /** True when this batch is already held (a redelivery while we work on it). */
  isOpen(id: string): boolean {
    return this.open.has(id);
  }

  /** Registers a batch whose `kept` records are now in the buffer (the rest were settled at once). */
  track(msg: M, id: string, kept: readonly LogRecord[]): void {
    if (kept.length === 0) {
      this.ready.push(msg);
      return;
    }
    const ref = { msg, id, remaining: kept.length };
    this.open.add(id);
    for (const r of kept) this.byRecord.set(r, ref);
  }

  /** A message with no records to wait for (a source end): ack after the next checkpoint. */
  settleMessage(msg: M): void {
    this.ready.push(msg);
  }

  /** The record left the buffer (released, or counted as never sent). */
  settle(r: LogRecord): void {
    const ref = this.byRecord.get(r);
    if (!ref) return;
    this.byRecord.delete(r);
    if (--ref.remaining === 0) {
      this.open.delete(ref.id);
      this.ready.push(ref.msg);
    }
  }

  /** Messages whose every record is settled; the caller acks them after its checkpoint. */
  takeReady(): M[] {
    const r = this.ready;
    this.ready = [];
    return r;
  }

  get pendingAcks(): number {
    return this.ready.length;
  }
}
