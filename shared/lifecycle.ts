/**
 * One lifecycle for every actor (BullMQ Worker / nats.js drain style):
 * - `start()` refuses to run twice;
 * - `close()` is idempotent (the same promise on every call), stops taking work, lets the actor
 *   drain, then runs every cleanup step even when one fails;
 * - `closed()` resolves to the actor's exit code (0 done, 1 failed);
 * - `run(signal)` gets an AbortSignal that `close()` aborts, so a wait in progress (a warm-up, a
 *   retry back-off, a lease wait) ends at once; a cleanup registered after closing began runs at
 *   once instead of being left behind (BullMQ's worker does the same with its abort controller).
 */
import { ProtocolError } from './errors.js';
import type { Logger } from './log.js';

/** Malformed messages logged one by one; after that, one line at each power of ten. */
const MALFORMED_LOGGED = 5;

/** Whether the `count`-th malformed message gets a log line of its own. Pure. */
export function logMalformed(count: number): boolean {
  return count <= MALFORMED_LOGGED || Math.log10(count) % 1 === 0;
}

export type Cleanup = () => unknown | Promise<unknown>;

export abstract class Actor {
  private started = false;
  private running = false;
  private closing?: Promise<void>;
  private readonly cleanups: Array<[string, Cleanup]> = [];
  private exitCode = 0;
  private resolveClosed!: (code: number) => void;
  private readonly closedPromise = new Promise<number>((r) => (this.resolveClosed = r));
  private readonly abort = new AbortController();
  /** True once the cleanups ran: a cleanup registered later runs at once. */
  private cleanedUp = false;
  /** Malformed messages dropped so far (invariant 6: counted, never a crash). */
  private malformedCount = 0;

  constructor(protected readonly log: Logger) {}

  /**
   * Acquire resources and begin work; register cleanups with `onClose` as they are acquired.
   * `signal` aborts when the actor starts closing: pass it to every wait.
   */
  protected abstract run(signal: AbortSignal): Promise<void>;
  /** Stop taking work and finish what is in flight (bounded by the caller's timeout). */
  protected abstract drain(reason: string): Promise<void>;

  async start(): Promise<void> {
    if (this.started) throw new Error('actor already started');
    this.started = true;
    this.log.info('starting');
    try {
      await this.run(this.abort.signal);
      if (!this.closing) this.running = true;
    } catch (err) {
      // Closed while starting: the abort ended a wait in run(); that is not a failure.
      if (this.closing) return;
      this.log.error({ err }, 'start failed');
      this.exitCode = 1;
      await this.close('start failed');
      throw err;
    }
  }

  /**
   * Registers a cleanup step; they run in reverse order of registration. Registered after the
   * cleanups already ran (run() was still awaiting when close() came), it runs at once.
   */
  protected onClose(name: string, fn: Cleanup): void {
    if (this.cleanedUp) {
      void this.runCleanup(name, fn);
      return;
    }
    this.cleanups.push([name, fn]);
  }

  /** Aborted once the actor starts closing. */
  protected get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Malformed NATS messages this actor received and dropped. */
  get malformed(): number {
    return this.malformedCount;
  }

  /**
   * Runs a message handler: a message that does not decode (a ProtocolError) is counted and
   * dropped, the first few logged; anything else is a bug and is thrown on.
   */
  protected guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.dropMalformed(err);
    }
  }

  protected dropMalformed(err: unknown): void {
    if (!(err instanceof ProtocolError)) throw err;
    this.malformedCount++;
    if (logMalformed(this.malformedCount)) this.log.warn({ err: err.message, malformed: this.malformedCount }, 'malformed message dropped');
  }

  /** Ends the actor with this exit code (unless it is already closing). */
  protected finish(code: number, reason: string): void {
    if (code > this.exitCode) this.exitCode = code;
    void this.close(reason);
  }

  close(reason = 'close requested'): Promise<void> {
    this.closing ??= this.doClose(reason);
    return this.closing;
  }

  closed(): Promise<number> {
    return this.closedPromise;
  }

  /** For /healthz: `starting` until run() returned, `ready` while working, `closing` after. */
  get phase(): 'starting' | 'ready' | 'closing' {
    if (this.closing) return 'closing';
    return this.running ? 'ready' : 'starting';
  }

  private async doClose(reason: string): Promise<void> {
    this.log.info({ reason }, 'closing');
    this.abort.abort(new Error(`actor closing: ${reason}`));
    try {
      await this.drain(reason);
    } catch (err) {
      this.log.error({ err }, 'drain failed');
      this.exitCode = Math.max(this.exitCode, 1);
    }
    // Steps registered while these run (run() still going) join the list and run here too.
    while (this.cleanups.length) {
      const [name, fn] = this.cleanups.pop()!;
      await this.runCleanup(name, fn);
    }
    this.cleanedUp = true;
    if (this.malformedCount > 0) this.log.warn({ malformed: this.malformedCount }, 'malformed messages dropped in all');
    this.log.info({ exit_code: this.exitCode }, 'closed');
    this.log.flush();
    this.resolveClosed(this.exitCode);
  }

  private async runCleanup(name: string, fn: Cleanup): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.warn({ err, step: name }, 'cleanup step failed');
    }
  }
}

/**
 * Runs an actor as the process: SIGTERM/SIGINT close it gracefully; a second signal or
 * `graceMs` without finishing exits hard. Resolves to the exit code.
 */
export async function runAsProcess(actor: Actor, log: Logger, graceMs = 10_000): Promise<number> {
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal, exiting now');
      process.exit(130);
    }
    log.info({ signal: sig }, 'signal received, draining');
    const timer = setTimeout(() => {
      log.error({ grace_ms: graceMs }, 'drain took too long, exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    void actor.close(`signal ${sig}`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await actor.start();
  return actor.closed();
}
