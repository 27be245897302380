/**
 * `havok local`: the whole cluster on one machine. Starts a nats-server of its own when none
 * answers at `[nats] url`, clears the job's stream (a fresh run), spawns every actor as a child
 * process of this same CLI, waits for the reporter to finish the job, then stops everything.
 * No process is left behind, also on Ctrl-C or when an actor fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { authError, isAuthError, natsOptions } from '../../shared/bus.js';
import { requireKeys, type HavokConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/log.js';
import { stateStreamName, streamName } from '../../shared/protocol.js';
import { startNatsServer, type NatsServerHandle } from './nats-server.js';
import { freePort } from '../../shared/ports.js';

/** The CLI of this same build: the actors run exactly the code `havok local` runs. */
const BIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/**
 * Node flags for an actor process. Node sizes its heap from the machine's RAM and lets garbage
 * pile up to hundreds of MB before a full collection; every actor's live data is bounded by its
 * windows, so a small young generation and an old-space limit sized from those windows keep its
 * RSS near its working set (bench/README.md, memory). NODE_OPTIONS, when set, wins.
 */
export function actorNodeFlags(actor: string, cfg: HavokConfig): string[] {
  // HAVOK_ACTOR_NODE_ARGS adds flags NODE_OPTIONS refuses (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
  const extra = (process.env.HAVOK_ACTOR_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
  if (process.env.NODE_OPTIONS) return extra;
  // ~600 B per buffered record in the time wheel, ~1 KB per queued record in a replayer.
  const heapMb =
    actor === 'timewheel' ? 96 + Math.ceil(cfg.job.max_buffer * 0.0006) : actor === 'replayer' ? 96 + Math.ceil(cfg.job.max_backlog * 0.001) : 128;
  return ['--max-semi-space-size=4', `--max-old-space-size=${heapMb}`, ...extra];
}

export interface LocalOptions {
  configPath: string;
  /** `--set` overrides, passed on to every actor. */
  set: string[];
  replayers: number;
  /** `--console [HOST:PORT]`: serve the live web console too (true = its default address). */
  console?: string | true;
  /** Also run `havok gateway` ([gateway]); with no `[replayer] target`, only the gateway runs (recording). */
  gateway?: boolean;
  /**
   * Niceness of the actors whose work runs ahead of the due time (fetcher, time wheel, router,
   * reporter, gateway): on a busy machine the kernel then gives a waking replayer a core first.
   */
  backgroundNice?: number;
}

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<number>;
}

export async function runLocal(cfg: HavokConfig, opts: LocalOptions, log: Logger): Promise<number> {
  // With --gateway and no target, this is a recording session: the gateway alone, until Ctrl-C.
  const job = !opts.gateway || (cfg.replayer.target ?? cfg.diff?.primary) !== undefined;
  if (job) {
    requireKeys(cfg, [
      ['fetcher.file.path', cfg.fetcher.type === 'file' ? cfg.fetcher.file.path : 'n/a'],
      // Under [diff] the records go to its targets instead.
      ['replayer.target', cfg.replayer.target ?? cfg.diff?.primary],
    ]);
  }
  let natsUrl = cfg.nats.url;
  let server: NatsServerHandle | undefined;
  // Our own server starts while the actors load their code (most of a start's time): they are
  // spawned with its URL and connect once it answers. Its store is new, so there is nothing to clear.
  let serverStarting: Promise<NatsServerHandle> | undefined;
  if (!(await reachable(cfg))) {
    log.info({ url: cfg.nats.url }, 'no NATS server reachable; starting one');
    const port = await freePort();
    natsUrl = `nats://127.0.0.1:${port}`;
    serverStarting = startNatsServer({ jetstream: true, port });
    // Failing, it is awaited below; until then a rejection must not count as unhandled.
    serverStarting.catch(() => undefined);
  } else if (job) await clearJobStream(cfg);
  // A bad --console address (off loopback without a token) is a usage error: stop the server we started.
  let stopConsole: (() => Promise<void>) | undefined;
  if (opts.console !== undefined) {
    if (serverStarting) server = await serverStarting;
    stopConsole = await (await import('../console/start.js')).startLocalConsole({ ...cfg, nats: { ...cfg.nats, url: natsUrl } }, opts.console).catch(async (err: unknown) => {
      await server?.stop();
      throw err;
    });
  }

  const children: Child[] = [];
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGTERM');
    const hard = setTimeout(() => children.forEach((c) => c.proc.exitCode === null && c.proc.kill('SIGKILL')), 5000);
    await Promise.all(children.map((c) => c.exited));
    clearTimeout(hard);
    await stopConsole?.();
    await server?.stop();
  };
  const onSignal = (): void => {
    log.warn('interrupted; stopping every actor');
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const env = {
    ...process.env,
    HAVOK_NATS_URL: natsUrl,
    HAVOK_LOG_LEVEL: process.env.HAVOK_LOG_LEVEL ?? 'warn',
  };
  // The children reach the server found or started here: a `--set nats.url=…` (from `--nats`)
  // naming one that did not answer must not send them to it, so the URL in use goes last.
  // The clock starts once every replayer started here has joined (warm, connected): the records of
  // the warm-up (the first warmup_ms) leave at once and would all go to the first one. A
  // `--set job.min_replayers=…` of the user's comes after, and wins.
  const waitForAll = opts.replayers > cfg.job.min_replayers ? ['--set', `job.min_replayers=${opts.replayers}`] : [];
  const common = ['--config', opts.configPath, ...waitForAll, ...opts.set.flatMap((s) => ['--set', s]), '--set', `nats.url=${JSON.stringify(natsUrl)}`];
  const spawnActor = (name: string, args: string[], stdout: 'inherit' | 'ignore'): Child => {
    const proc = spawn(process.execPath, [...actorNodeFlags(args[0], cfg), BIN, ...args, ...common], { env, stdio: ['ignore', stdout, 'inherit'] });
    const exited = new Promise<number>((resolve) => proc.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1))));
    const child = { name, proc, exited };
    children.push(child);
    if (!name.startsWith('replayer') && (opts.backgroundNice ?? 0) > 0 && proc.pid !== undefined) lowerPriority(proc.pid, opts.backgroundNice ?? 0, log);
    return child;
  };
  const gateway = opts.gateway ? spawnActor('gateway', ['gateway'], 'ignore') : undefined;
  // Consumers first, so nothing is published before someone listens.
  const reporter = job ? spawnActor('reporter', ['reporter'], 'inherit') : gateway!;
  if (job) {
    spawnActor('router', ['router'], 'ignore');
    for (let i = 0; i < opts.replayers; i++) spawnActor(`replayer-${i}`, ['replayer', '--id', `local-${i}`], 'ignore');
    spawnActor('timewheel', ['timewheel'], 'ignore');
    spawnActor('fetcher', ['fetcher'], 'ignore');
  }
  if (serverStarting && server === undefined) {
    try {
      server = await serverStarting;
    } catch (err) {
      await stopAll();
      throw err;
    }
  }

  // The job ends when the reporter exits (a recording session: the gateway); any other actor failing first ends it too.
  const failure = new Promise<number>((resolve) => {
    for (const c of children) {
      if (c === reporter) continue;
      void c.exited.then((code) => {
        if (code !== 0 && !stopping) {
          log.error({ actor: c.name, exit_code: code }, 'actor failed; stopping the job');
          resolve(code === 2 ? 2 : 1);
        }
      });
    }
  });
  const code = await Promise.race([reporter.exited, failure]);
  await stopAll();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return code;
}

function lowerPriority(pid: number, nice: number, log: Logger): void {
  try {
    setPriority(pid, nice);
  } catch (err) {
    // Only a raise of priority needs privileges; a lowering that fails costs timing, not the job.
    log.warn({ pid, nice, err: (err as Error).message }, 'could not lower an actor\'s scheduling priority');
  }
}

/** A server that refuses our credentials is reachable: that is a config error, not a reason to start another. */
async function reachable(cfg: HavokConfig): Promise<boolean> {
  try {
    const nc = await connect({ ...natsOptions(cfg.nats, 'havok-local-probe'), maxReconnectAttempts: 0, timeout: 1000 });
    await nc.close();
    return true;
  } catch (err) {
    if (isAuthError(err)) throw authError(cfg.nats, err);
    return false;
  }
}

/** A local run starts fresh: an earlier run's leftover batches must not be replayed. */
async function clearJobStream(cfg: HavokConfig): Promise<void> {
  const nc = await connect(natsOptions(cfg.nats, 'havok-local'));
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(streamName(cfg.job.id)).catch(() => undefined);
    await jsm.streams.delete(stateStreamName(cfg.job.id)).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
