/**
 * The nats-server `havok local` starts when no server answers at `[nats] url` (and the bench
 * starts for its runs): JetStream in a temp store dir, on loopback, stopped with its dirs when the
 * run ends. What only tests need (kill, restart on the same port) is in test/support/nats-server.ts,
 * built on this one so tests exercise the launcher users run.
 *
 * The server listens on port -1 (a random free port chosen by the server itself) and writes the
 * port to a "ports file" in a private directory; reading that file avoids the race of picking a
 * free port ourselves and having something else take it before the server binds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServerOptions {
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Extra command-line arguments, appended after ours. */
  args?: string[];
  /** Binary to run (default: $NATS_SERVER_BIN, else `nats-server` on PATH). */
  bin?: string;
  /** How long to wait for the server to report its port, in ms (default 10 000). */
  startTimeoutMs?: number;
  /** Port to listen on (default -1: one the server picks). */
  port?: number;
  /**
   * JetStream store dir. One passed in is the caller's and outlives stop() (so a server started
   * again on it finds its streams); by default a temp dir is made and deleted on stop().
   */
  storeDir?: string;
}

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** pid of the server process. */
  readonly pid: number;
  /** Stop the server (SIGTERM, SIGKILL after 5 s) and delete the dirs it made. Idempotent. */
  stop(): Promise<void>;
}

const POLL_MS = 20;
/** Keep only the tail of stderr: enough to explain a failed start, bounded for long runs. */
const STDERR_KEEP_CHARS = 16_384;

/**
 * Children still running when this process exits (it crashed, or a caller forgot stop()) are
 * killed here, so no orphaned nats-server keeps a port and a temp dir after the run.
 */
const live = new Map<ChildProcess, string[]>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [child, dirs] of live) {
      child.kill('SIGKILL');
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** One running nats-server process and what we learnt about it. */
interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  /** Set once the process has exited (code or signal, for error messages). */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Set if spawn itself failed (e.g. ENOENT: binary missing). */
  spawnError: Error | undefined;
  stderr: string;
}

function spawnServer(bin: string, args: string[]): Proc {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const proc: Proc = { child, exited: Promise.resolve(), exit: undefined, spawnError: undefined, stderr: '' };
  // Always read stderr: nats-server logs there, and an unread pipe would eventually block it.
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    proc.stderr = (proc.stderr + chunk).slice(-STDERR_KEEP_CHARS);
  });
  proc.exited = new Promise<void>((resolve) => {
    // 'error' without a later 'exit' happens when the binary cannot be spawned at all.
    child.once('error', (err) => {
      proc.spawnError = err;
      resolve();
    });
    child.once('exit', (code, signal) => {
      proc.exit = { code, signal };
      resolve();
    });
  });
  return proc;
}

/** Read the port the server wrote to `<exe>_<pid>.ports`: `{"nats":["nats://127.0.0.1:N"]}`. */
async function readPortsFile(dir: string, pid: number): Promise<number | undefined> {
  const name = (await readdir(dir)).find((f) => f.endsWith(`_${pid}.ports`));
  if (name === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(dir, name), 'utf8'));
  } catch {
    return undefined; // caught mid-write; the next poll reads it whole
  }
  const urls = (parsed as { nats?: unknown }).nats;
  if (!Array.isArray(urls) || typeof urls[0] !== 'string') return undefined;
  const port = Number(new URL(urls[0]).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

function describeFailure(bin: string, args: string[], proc: Proc, why: string): Error {
  const cmd = `${bin} ${args.join(' ')}`;
  if (proc.spawnError !== undefined) {
    const code = (proc.spawnError as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (is nats-server installed and on PATH, or NATS_SERVER_BIN set?)' : '';
    return new Error(`cannot run ${cmd}: ${proc.spawnError.message}${hint}`, { cause: proc.spawnError });
  }
  const stderr = proc.stderr.trim();
  return new Error(`nats-server ${why}: ${cmd}${stderr ? `\n--- stderr ---\n${stderr}` : ' (no stderr output)'}`);
}

/** Start one process and wait until it has reported its port and accepts connections. */
async function launch(
  bin: string,
  args: string[],
  portsDir: string,
  timeoutMs: number,
): Promise<{ proc: Proc; port: number }> {
  const proc = spawnServer(bin, args);
  const deadline = Date.now() + timeoutMs;
  let port: number | undefined;
  for (;;) {
    if (proc.spawnError !== undefined || proc.exit !== undefined) {
      const how = proc.exit ? `exited early (code ${proc.exit.code}, signal ${proc.exit.signal})` : 'failed';
      throw describeFailure(bin, args, proc, how);
    }
    const pid = proc.child.pid;
    if (port === undefined && pid !== undefined) port = await readPortsFile(portsDir, pid);
    // The ports file can precede the accept loop by a moment; connect once to be sure.
    if (port !== undefined && (await canConnect(port))) return { proc, port };
    if (Date.now() >= deadline) {
      proc.child.kill('SIGKILL');
      await proc.exited;
      throw describeFailure(bin, args, proc, `did not become ready within ${timeoutMs}ms`);
    }
    await sleep(POLL_MS);
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. */
async function terminate(proc: Proc, graceMs = 5_000): Promise<void> {
  if (proc.exit !== undefined || proc.spawnError !== undefined) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = opts.bin ?? process.env.NATS_SERVER_BIN ?? 'nats-server';
  const jetstream = opts.jetstream ?? true;
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const portsDir = mkdtempSync(join(tmpdir(), 'havok-nats-ports-'));
  const ownDirs = [portsDir];
  let storeDir = opts.storeDir;
  if (jetstream && storeDir === undefined) {
    storeDir = mkdtempSync(join(tmpdir(), 'havok-nats-store-'));
    ownDirs.push(storeDir);
  }
  const removeDirs = (): void => {
    for (const d of ownDirs) rmSync(d, { recursive: true, force: true });
  };
  const args = [
    '-a', '127.0.0.1',
    '-p', String(opts.port ?? -1),
    '--ports_file_dir', portsDir,
    ...(jetstream && storeDir !== undefined ? ['-js', '-sd', storeDir] : []),
    ...(opts.args ?? []),
  ];

  installExitHook();
  let started: { proc: Proc; port: number };
  try {
    started = await launch(bin, args, portsDir, timeoutMs);
  } catch (err) {
    removeDirs();
    throw err;
  }
  const { proc, port } = started;
  live.set(proc.child, ownDirs);

  let stopping: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: proc.child.pid ?? -1,
    stop(): Promise<void> {
      // Same promise on every call, so parallel cleanups agree.
      stopping ??= (async () => {
        try {
          await terminate(proc);
        } finally {
          live.delete(proc.child);
          removeDirs();
        }
      })();
      return stopping;
    },
  };
}
