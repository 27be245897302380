/**
 * Holds records until their due time and hands them out in order, one timer per deadline (not a
 * fixed tick). Records arrive in due order (the time wheel releases them in order and the router
 * keeps it), so a FIFO with a timer on its head is enough. The clock is passed in, so tests use
 * fake time.
 */
export interface Clock {
  /** Wall time, epoch ms with sub-ms precision. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Timers fire up to ~1 ms late; wake this much early and hand out what is due by then. */
const EARLY_MS = 1;
/** A record due within this much of now goes out now (cheaper than another timer turn). */
const SLACK_MS = 0.2;

export class DueQueue<T extends { due: number }> {
  /** Slots before `head` are cleared: a record sent is not kept alive (and promoted) here. */
  private items: Array<T | undefined> = [];
  private head = 0;
  private timer: unknown;
  private timerAt = Infinity;

  /** `onDue(item)` returns false when it cannot take the item now (e.g. in-flight limit). */
  constructor(
    private readonly clock: Clock,
    private readonly onDue: (item: T, now: number) => boolean,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(items: readonly T[]): void {
    for (const it of items) this.items.push(it);
    this.pump();
  }

  /** Hands out every due item; call again when the consumer has room. */
  pump(): void {
    const now = this.clock.now();
    while (this.head < this.items.length) {
      const it = this.items[this.head]!;
      if (it.due > now + SLACK_MS) {
        this.arm(it.due - now);
        break;
      }
      if (!this.onDue(it, now)) break;
      this.items[this.head++] = undefined;
    }
    // Compact now and then, so the array does not grow without bound.
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Removes and returns everything still waiting (for a stop or drain). */
  takeAll(): T[] {
    const rest = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    return rest;
  }

  private arm(inMs: number): void {
    const at = this.clock.now() + inMs;
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, inMs - EARLY_MS));
  }
}
