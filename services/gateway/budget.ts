/**
 * The gateway's in-flight byte budget: bytes of bodies being read, decoded or stored at once.
 * A POST takes its bytes before reading them and gives them back when answered; one that cannot
 * take them gets 503 + Retry-After. So memory stays bounded under any load, and an overloaded
 * gateway says so at once instead of queueing (the sender retries later).
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Takes `n` bytes if they fit; false (nothing taken) when they do not. */
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  get inUse(): number {
    return this.used;
  }
}
