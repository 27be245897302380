/**
 * Runs the real `havok` CLI (bin/havok.js) as a child process, as a user would, and collects its
 * output; writes job configs for tests into temp dirs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EndReport } from '../../services/reporter/report.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(REPO_ROOT, 'bin', 'havok.js');
export const APACHE_LOG = fileURLToPath(new URL('../../../examples/data/apache_logs', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Running {
  proc: ChildProcess;
  done: Promise<RunResult>;
  /** What the process wrote to stderr so far (its logs). */
  stderr(): string;
}

/** Where to run: `netns` = a test host's network namespace (test/support/hosts.ts). */
export interface StartOptions {
  netns?: string;
}

export function startHavok(args: string[], env: Record<string, string> = {}, where: StartOptions = {}): Running {
  // `ip netns exec` execs the command in place, so the child's pid is havok's own.
  const [cmd, argv] = where.netns ? ['ip', ['netns', 'exec', where.netns, process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
  const proc = spawn(cmd, argv, {
    env: { ...process.env, HAVOK_LOG_LEVEL: process.env.HAVOK_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve) => proc.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
  return { proc, done, stderr: () => stderr };
}

export function runHavok(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return startHavok(args, env).done;
}

export interface JobFiles {
  dir: string;
  config: string;
  report: string;
}

export interface JobOptions {
  job: string;
  target: string;
  nats: string;
  /** Log path; or give `lines` to have the log written into the job's dir. */
  log?: string;
  lines?: string[];
  /** `[fetcher.file] format` (default combined). */
  format?: string;
  /** Keys appended to `[job]`, `[fetcher]` and after `[reporter]` (a new section may follow). */
  job_toml?: string;
  fetcher_toml?: string;
  extra?: string;
  /** Where to make the job's dir (default the system temp dir). */
  parent?: string;
}

/** Writes a TOML job config (and, with `lines`, its log) into a fresh dir under `parent`. */
export function writeJob(opts: JobOptions): JobFiles {
  const dir = mkdtempSync(join(opts.parent ?? tmpdir(), 'havok-job-'));
  const report = join(dir, 'report.json');
  const config = join(dir, 'job.toml');
  let log = opts.log ?? '';
  if (opts.lines) {
    log = join(dir, opts.format === 'jsonl' ? 'log.jsonl' : 'access.log');
    writeFileSync(log, opts.lines.join('\n') + '\n');
  }
  writeFileSync(
    config,
    [
      '[job]',
      `id = "${opts.job}"`,
      opts.job_toml ?? '',
      '[fetcher]',
      opts.fetcher_toml ?? '',
      '[fetcher.file]',
      `path = ${JSON.stringify(log)}`,
      `format = "${opts.format ?? 'combined'}"`,
      '[replayer]',
      `target = "${opts.target}"`,
      '[nats]',
      `url = "${opts.nats}"`,
      '[reporter]',
      `json = ${JSON.stringify(report)}`,
      'settle_ms = 10000',
      opts.extra ?? '',
    ].join('\n'),
  );
  return { dir, config, report };
}

/** JSONL lines of `n` requests `stepMs` apart in log time, urls `${prefix}${i}`. */
export function pacedJsonl(n: number, stepMs: number, prefix: string): string[] {
  const t0 = Date.UTC(2024, 0, 1);
  return Array.from({ length: n }, (_, i) => JSON.stringify({ ts: t0 + i * stepMs, method: 'GET', url: `${prefix}${i}` }));
}

export function readReport(path: string): EndReport {
  return JSON.parse(readFileSync(path, 'utf8')) as EndReport;
}
