/**
 * How long a partial batch of a followed source may wait for more records before it is published
 * anyway: a live record is then at most LINGER_MS in the fetcher, not until 500 others arrive.
 * One timer per batch (armed by its first record), raced against each read.
 */
export const LINGER_MS = 50;

/** What `race` resolves to when the batch's time is up before the read. */
export const LINGERED = Symbol('lingered');

export class Linger {
  private timer?: NodeJS.Timeout;
  private expired?: Promise<typeof LINGERED>;

  constructor(private readonly ms = LINGER_MS) {}

  /** The read's result, or LINGERED once `ms` have passed since the first race of this batch. */
  race<T>(read: Promise<T>): Promise<T | typeof LINGERED> {
    this.expired ??= new Promise((resolve) => {
      this.timer = setTimeout(() => resolve(LINGERED), this.ms);
    });
    return Promise.race([read, this.expired]);
  }

  /** The batch is out: the next one gets a fresh timer. */
  reset(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.expired = undefined;
  }
}
