/**
 * One owner per job role: the I/O shell around decide.ts. The lease is a key in the job's
 * JetStream KV bucket (`leaseBucketName`), written with revision checks, so of two processes
 * that try at once exactly one wins. The holder renews it; a standby polls it and takes it over
 * once it has been silent for the TTL; the holder stops acting (`isOwner()` false) before that
 * can happen, and `onLost` tells it when another process holds the role.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '../bus.js';
import type { Logger } from '../log.js';
import { abortableSleep } from '../retry.js';
import { decodeOn, encode, envelope, leaseBucketName, type LeaseRole } from '../protocol.js';
import { decideLease, isOwner, lostLease, startLease, wrote, type LeaseObservation, type LeaseState, type LeaseTiming } from './decide.js';

export const DEFAULT_LEASE_TIMING: LeaseTiming = { ttlMs: 3000, renewMs: 500 };
/** How often a standby says it is one (the first time at once). */
const STANDBY_LOG_MS = 10_000;

export interface LeaseOptions {
  nc: NatsConnection;
  job: string;
  role: LeaseRole;
  /** This process's identity, unique per start. */
  holder: string;
  log: Logger;
  replicas?: number;
  timing?: LeaseTiming;
  clock?: () => number;
}

export class Lease {
  private readonly state: LeaseState = startLease();
  private readonly timing: LeaseTiming;
  private readonly clock: () => number;
  private kv?: KV;
  private timer?: NodeJS.Timeout;
  private lostHandlers: Array<(holder: string) => void> = [];
  private closed = false;
  private lastStandbyLog = 0;

  constructor(private readonly o: LeaseOptions) {
    this.timing = o.timing ?? DEFAULT_LEASE_TIMING;
    this.clock = o.clock ?? Date.now;
  }

  private get key(): string {
    return this.o.role;
  }

  /** Fencing: true while this process may act as the role's owner. */
  isOwner(): boolean {
    return isOwner(this.state, this.clock());
  }

  /** Called once when another process is found holding the role we held. */
  onLost(fn: (holder: string) => void): void {
    this.lostHandlers.push(fn);
  }

  /**
   * Resolves once this process holds the role (at once when nobody else does); standing by
   * meanwhile. Rejects when `signal` aborts. Afterwards the lease renews itself until `release`.
   */
  async acquire(signal: AbortSignal): Promise<void> {
    const kvm = new Kvm(this.o.nc);
    this.kv = await kvm.create(leaseBucketName(this.o.job), { history: 1, replicas: this.o.replicas ?? 1 });
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        if (await this.step()) break;
      } catch (err) {
        // The bucket is not answering yet (a new replicated bucket electing its leader, NATS
        // away): keep trying, saying so now and then.
        if (attempt === 1 || attempt % 20 === 0) this.o.log.warn({ role: this.o.role, err: (err as Error).message, attempt }, 'cannot read the lease yet; retrying');
      }
      await abortableSleep(this.timing.renewMs, signal).catch(() => undefined);
    }
    signal.throwIfAborted();
    this.o.log.info({ role: this.o.role, holder: this.o.holder }, `holding the ${this.o.role} lease: this process is the active ${this.o.role}`);
    this.scheduleRenew();
  }

  /** Gives the role up (on a clean exit), so a standby takes over at once. */
  async release(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.state.heldRevision === null || !this.kv) return;
    const rev = this.state.heldRevision;
    lostLease(this.state);
    await this.kv.delete(this.key, { previousSeq: rev }).catch(() => undefined);
  }

  private scheduleRenew(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.renew().finally(() => this.scheduleRenew());
    }, this.timing.renewMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const rev = this.state.heldRevision;
    if (rev === null) return;
    const sentAt = this.clock();
    try {
      wrote(this.state, await this.kv!.update(this.key, this.value(), rev, this.timing.renewMs), sentAt, this.timing);
    } catch (err) {
      // The update may have failed because someone took over, or only because NATS is away
      // (then validity simply runs out). Reading the entry tells which.
      await this.step().catch(() => this.o.log.warn({ role: this.o.role, err: (err as Error).message }, 'cannot renew the lease yet'));
    }
  }

  /** Reads the entry and does what decide says; true when we hold the lease afterwards. */
  private async step(): Promise<boolean> {
    const kv = this.kv!;
    const e = await kv.get(this.key);
    const seen: LeaseObservation =
      e && e.operation === 'PUT' ? { exists: true, revision: e.revision, holder: decodeOn('lease', e.value).holder } : { exists: false, revision: e?.revision ?? null };
    const now = this.clock();
    const action = decideLease(this.state, this.o.holder, seen, now, this.timing);
    switch (action.kind) {
      case 'create':
        return this.tryWrite(() => kv.create(this.key, this.value()), now);
      case 'renew':
        return this.tryWrite(() => kv.update(this.key, this.value(), action.revision), now);
      case 'take_over':
        this.o.log.warn({ role: this.o.role, silent_ms: now - this.state.seenAt }, `the active ${this.o.role} is silent: taking over`);
        return this.tryWrite(() => kv.update(this.key, this.value(), action.revision), now);
      case 'lost':
        lostLease(this.state);
        this.o.log.error({ role: this.o.role, holder: action.holder }, `another process holds the ${this.o.role} lease now: this one stops acting`);
        for (const fn of this.lostHandlers) fn(action.holder);
        return false;
      case 'stand_by':
        if (now - this.lastStandbyLog >= STANDBY_LOG_MS) {
          this.lastStandbyLog = now;
          this.o.log.warn({ role: this.o.role, holder: action.holder }, `another ${this.o.role} is active for this job: standing by (takes over when it is silent for ${this.timing.ttlMs} ms)`);
        }
        return false;
    }
  }

  /** A create or update at a revision: losing the race is not an error, just not ours. */
  private async tryWrite(write: () => Promise<number>, sentAt: number): Promise<boolean> {
    try {
      wrote(this.state, await write(), sentAt, this.timing);
      return true;
    } catch {
      return false;
    }
  }

  private value(): Uint8Array {
    return encode({ ...envelope('lease', this.o.holder), role: this.o.role, holder: this.o.holder, at: this.clock(), ttl_ms: this.timing.ttlMs });
  }
}
