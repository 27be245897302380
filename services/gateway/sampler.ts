/**
 * How many rejected lines the log shows: at most `perMinute` samples in each wall-clock minute,
 * the rest only counted (a flood of bad lines must not flood the log). Pure: the clock is passed in.
 */
export class Sampler {
  private minute = -1;
  private taken = 0;

  constructor(private readonly perMinute: number) {}

  /** Whether to log one more sample at `nowMs`. */
  take(nowMs: number): boolean {
    const m = Math.floor(nowMs / 60_000);
    if (m !== this.minute) {
      this.minute = m;
      this.taken = 0;
    }
    if (this.taken >= this.perMinute) return false;
    this.taken++;
    return true;
  }
}
