/**
 * One disposable set-up per integration test, after nats.js's `setup()` (which returns
 * `{ ns, nc, [Symbol.asyncDispose] }`): a real nats-server on a random port, optionally a real
 * recording HTTP target, a private temp dir for job configs and logs, and every `havok` process
 * and NATS client the test starts through it.
 *
 *   await using fx = await havokFixture({ target: true });
 *   const job = fx.job({ job: 'x', lines });        // target and nats filled in
 *   const res = await fx.run(['local', '--config', job.config]);
 *
 * When the test's scope ends — also when an assertion throws midway — everything is torn down in
 * reverse order (processes killed and reaped, clients closed, target, server, dir), so no test
 * leaves a process, a port or a directory to the next one. Node 20 defines `Symbol.asyncDispose`
 * and @types/node declares it, so TypeScript lowers `await using` for ES2022 with no polyfill.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { startHavok, writeJob, type JobFiles, type JobOptions, type RunResult, type Running, type StartOptions } from './havok-cli.js';
import { descendants } from './processes.js';
import { startNatsServer, type NatsServerHandle, type NatsServerOptions } from './nats-server.js';
import { startTarget, type TargetHandle, type TargetOptions } from './target-server.js';

export interface FixtureOptions {
  /** Start a recording HTTP target: `true`, or its options (latency, status). */
  target?: boolean | TargetOptions;
  /** nats-server options (default: JetStream on a random port); `false`: no server. */
  nats?: NatsServerOptions | false;
}

type TargetOf<O> = O extends { target: true | TargetOptions } ? TargetHandle : undefined;
type NatsOf<O> = O extends { nats: false } ? undefined : NatsServerHandle;

/** `writeJob`'s options, with `target` and `nats` defaulting to the fixture's. */
export type FixtureJobOptions = Omit<JobOptions, 'target' | 'nats' | 'parent'> & { target?: string; nats?: string };

export interface HavokFixture<O extends FixtureOptions = FixtureOptions> extends AsyncDisposable {
  readonly nats: NatsOf<O>;
  readonly target: TargetOf<O>;
  /** A private temp dir, deleted on dispose. */
  readonly dir: string;
  /** Writes a job config (and, with `lines`, its log) into a fresh dir under `dir`. */
  job(opts: FixtureJobOptions): JobFiles;
  /** Starts `havok <args>` (in a test host's namespace with `where.netns`); killed with SIGKILL and reaped on dispose if still running. */
  havok(args: string[], env?: Record<string, string>, where?: StartOptions): Running;
  /** Runs `havok <args>` to its end. */
  run(args: string[], env?: Record<string, string>): Promise<RunResult>;
  /** A NATS client of the fixture's server (or `opts.servers`); closed on dispose. */
  connect(opts?: NodeConnectionOptions): Promise<NatsConnection>;
  /** Runs `cleanup` on dispose, before what was set up earlier (a stack, as DisposableStack). */
  defer(cleanup: () => unknown): void;
}

/** Cleanups run last-in first-out; every one runs even if an earlier one fails. */
class CleanupStack {
  private readonly stack: Array<() => unknown> = [];
  private done: Promise<void> | undefined;

  push(cleanup: () => unknown): void {
    this.stack.push(cleanup);
  }

  dispose(): Promise<void> {
    this.done ??= (async () => {
      const errors: unknown[] = [];
      for (let c = this.stack.pop(); c; c = this.stack.pop()) {
        try {
          await c();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, 'fixture cleanup failed');
    })();
    return this.done;
  }
}

/** How long a reaped process's pipes may stay open after it is gone (held by an orphan). */
const PIPE_GRACE_MS = 5000;

/**
 * SIGKILL it and everything it started (`havok local`'s actors inherit its stderr: killed alone,
 * it would leave them running, holding the pipe, and `done` would never resolve), then wait for
 * its stdio to close: no process outlives the test. Pipes an orphan still holds after a grace
 * (the parent exited before the test ended, its children did not) are closed from this side.
 */
async function reap(p: Running): Promise<void> {
  if (p.proc.pid !== undefined && p.proc.exitCode === null && p.proc.signalCode === null) {
    const tree = descendants(p.proc.pid);
    p.proc.kill('SIGKILL');
    for (const pid of tree) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([p.done.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), PIPE_GRACE_MS)))]);
  clearTimeout(timer);
  if (!closed) {
    p.proc.stdout?.destroy();
    p.proc.stderr?.destroy();
    await p.done;
  }
}

export async function havokFixture<const O extends FixtureOptions = Record<never, never>>(opts?: O): Promise<HavokFixture<O>> {
  const cleanups = new CleanupStack();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'havok-test-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    let nats: NatsServerHandle | undefined;
    if (opts?.nats !== false) {
      const server = await startNatsServer(opts?.nats ?? {});
      nats = server;
      cleanups.push(() => server.stop());
    }
    let target: TargetHandle | undefined;
    if (opts?.target) {
      const t = await startTarget(opts.target === true ? {} : opts.target);
      target = t;
      cleanups.push(() => t.close());
    }
    const havok = (args: string[], env?: Record<string, string>, where?: StartOptions): Running => {
      const p = startHavok(args, env, where);
      cleanups.push(() => reap(p));
      return p;
    };
    return {
      nats: nats as NatsOf<O>,
      target: target as TargetOf<O>,
      dir,
      job(job: FixtureJobOptions): JobFiles {
        const targetUrl = job.target ?? target?.url;
        const natsUrl = job.nats ?? nats?.url;
        if (targetUrl === undefined || natsUrl === undefined) {
          throw new Error('fixture.job(): no target or NATS url; start the fixture with them or pass target and nats');
        }
        return writeJob({ ...job, target: targetUrl, nats: natsUrl, parent: dir });
      },
      havok,
      run: (args, env) => havok(args, env).done,
      async connect(connOpts?: NodeConnectionOptions): Promise<NatsConnection> {
        const servers = connOpts?.servers ?? nats?.url;
        // Never the default 127.0.0.1:4222: that would be some other server on this machine.
        if (servers === undefined) throw new Error('fixture.connect(): no NATS server; start the fixture with one or pass servers');
        const nc = await connect({ ...connOpts, servers });
        cleanups.push(() => (nc.isClosed() ? undefined : nc.close()));
        return nc;
      },
      defer: (cleanup) => cleanups.push(cleanup),
      [Symbol.asyncDispose]: () => cleanups.dispose(),
    };
  } catch (err) {
    // A failed start (e.g. no nats-server binary) still removes what was set up before it.
    await cleanups.dispose().catch(() => undefined);
    throw err;
  }
}
