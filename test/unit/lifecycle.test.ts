/**
 * The actor lifecycle: close() during run() aborts run's signal, and a cleanup registered after
 * closing began (a timer started once a warm-up returns) runs at once instead of leaking.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Actor } from '../../shared/lifecycle.js';
import { createLogger } from '../../shared/log.js';

const log = createLogger('test');
log.level = 'silent';

/** An actor whose run() waits (like the replayer's warm-up), then starts a timer. */
class SlowStart extends Actor {
  timerCleared = false;
  sawAbort = false;
  ticks = 0;
  constructor(private readonly gate: Promise<void>) {
    super(log);
  }
  protected async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => (this.sawAbort = true));
    await this.gate;
    const t = setInterval(() => this.ticks++, 1);
    this.onClose('timer', () => {
      clearInterval(t);
      this.timerCleared = true;
    });
  }
  protected async drain(): Promise<void> {}
}

test('close() while run() awaits: signal aborted, late cleanup runs at once, closed() resolves', async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const a = new SlowStart(gate);
  const started = a.start();
  const closing = a.close('test');
  assert.equal(a.phase, 'closing');
  await closing;
  assert.equal(a.sawAbort, true, 'run() signal aborted by close()');
  open();
  await started;
  assert.equal(a.timerCleared, true, 'a cleanup registered after close ran at once');
  const ticks = a.ticks;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(a.ticks, ticks, 'the timer does not keep running');
  assert.equal(a.phase, 'closing');
  assert.equal(await a.closed(), 0);
});

test('cleanups run in reverse order of registration, each even when one fails', async () => {
  const order: string[] = [];
  class Three extends Actor {
    protected async run(): Promise<void> {
      this.onClose('a', () => order.push('a'));
      this.onClose('b', () => {
        order.push('b');
        throw new Error('boom');
      });
      this.onClose('c', () => order.push('c'));
    }
    protected async drain(): Promise<void> {}
  }
  const a = new Three(log);
  await a.start();
  assert.equal(a.phase, 'ready');
  await a.close();
  assert.deepEqual(order, ['c', 'b', 'a']);
  assert.equal(await a.closed(), 0);
});
