/**
 * A real `nats-server` per test (docs/architecture.md, Tests): tests kill and restart it to
 * exercise reconnects and JetStream persistence, which a mock could not show. Built on the
 * launcher `havok local` uses (services/local/nats-server.ts), so what tests start is what users
 * run; this adds what only tests need: a crash (`kill`), a restart on the same port with the same
 * store, and `await using`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startNatsServer as startLocalNatsServer,
  type NatsServerHandle as LocalNatsServer,
  type NatsServerOptions as LocalOptions,
} from '../../services/local/nats-server.js';

export type NatsServerOptions = Omit<LocalOptions, 'port' | 'storeDir'>;

export interface NatsServerHandle extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>`; stays the same across restart(). */
  readonly url: string;
  readonly port: number;
  /** pid of the current process; changes after restart(). */
  readonly pid: number;
  /** JetStream store dir; kept across restart() so streams survive it. */
  readonly storeDir: string;
  /** Stop the server and delete its temp dirs. Idempotent; also what `await using` calls. */
  stop(): Promise<void>;
  /** Send a signal (default SIGKILL) and return at once, to simulate a crash. */
  kill(signal?: NodeJS.Signals): void;
  /** Stop (if still running) and start again on the same port with the same store dir. */
  restart(): Promise<void>;
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  // Our own store dir (not the launcher's), so it outlives each process across restart().
  const storeDir = mkdtempSync(join(tmpdir(), 'havok-nats-store-'));
  const launch = (port?: number): Promise<LocalNatsServer> => startLocalNatsServer({ ...opts, port, storeDir });
  let current: LocalNatsServer;
  try {
    current = await launch();
  } catch (err) {
    rmSync(storeDir, { recursive: true, force: true });
    throw err;
  }
  const port = current.port;
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= current.stop().finally(() => rmSync(storeDir, { recursive: true, force: true }));
    return stopping;
  };
  return {
    url: current.url,
    port,
    get pid(): number {
      return current.pid;
    },
    storeDir,
    stop,
    [Symbol.asyncDispose]: stop,
    kill(signal: NodeJS.Signals = 'SIGKILL'): void {
      try {
        process.kill(current.pid, signal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // already gone
      }
    },
    async restart(): Promise<void> {
      if (stopping !== undefined) throw new Error('nats-server: restart() after stop()');
      // After kill() the process may still be dying; stop() waits, so the port is free.
      await current.stop();
      // The old socket is released on exit and Go sets SO_REUSEADDR, so the port is normally
      // free at once; a few retries cover the rare slow release.
      let lastErr: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          current = await launch(port);
          return;
        } catch (err) {
          lastErr = err;
          if (!(err instanceof Error) || !/address already in use/i.test(err.message)) break;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      throw lastErr;
    },
  };
}
