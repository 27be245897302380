/**
 * `havok local` process hygiene: Ctrl-C mid-run stops every actor it started (and the
 * nats-server it started itself), leaving no process behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { freePort } from '../../shared/ports.js';
import { alive, commandLine, descendants } from '../support/processes.js';
import { APACHE_LOG } from '../support/havok-cli.js';

/** Pids of processes whose command line contains `needle`. */
function processesWith(needle: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', needle], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('havok local', { timeout: 120_000 }, () => {
  test('Ctrl-C stops every actor and its own nats-server', async () => {
    await using fx = await havokFixture({ nats: false, target: true });
    // An unused port: nothing answers, so havok local starts a nats-server of its own.
    const job = fx.job({ job: 'ctrlc', log: APACHE_LOG, nats: 'nats://127.0.0.1:1', job_toml: 'speed = 10\nmax_idle_ms = 100' });
    const run = fx.havok(['local', '--config', job.config, '--replayers', '2']);
    // Wait until requests flow: every actor is up.
    await check(() => fx.target.count() > 20, 60_000, 'requests to arrive');
    // Every actor but the fetcher, which may have read the whole log and ended by now.
    for (const actor of ['reporter', 'router', 'replayer --id local-0', 'replayer --id local-1', 'timewheel']) {
      assert.equal(processesWith(`main.js ${actor} --config ${job.config}`).length, 1, `the ${actor} process runs`);
    }
    // Its own nats-server: a child of this run (other runs on the machine start theirs).
    const servers = descendants(run.proc.pid!).filter((pid) => /(^|\/)nats-server /.test(commandLine(pid)));
    assert.equal(servers.length, 1, 'havok local started its own nats-server');
    run.proc.kill('SIGINT');
    const res = await run.done;
    assert.equal(res.code, 130, `exit code after Ctrl-C\n${res.stderr}`);
    await check(() => processesWith(job.config).length === 0, 10_000, 'every actor process to exit');
    assert.deepEqual(processesWith(job.dir), [], 'no process refers to the job dir');
    await check(() => !alive(servers[0]!), 10_000, 'its nats-server to exit');
  });
});

describe('health endpoint', { timeout: 60_000 }, () => {
  test('an actor answers /healthz: 503 until ready, 200 while working', async () => {
    await using fx = await havokFixture();
    const port = await freePort();
    const router = fx.havok(['router', '--job', 'health', '--nats', fx.nats.url, '--health-port', String(port)]);
    let body: { actor?: string; phase?: string } = {};
    await check(async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        body = (await res.json()) as typeof body;
        return res.status === 200;
      } catch {
        return false;
      }
    }, 20_000, 'the router to report healthy');
    assert.deepEqual({ actor: body.actor, phase: body.phase }, { actor: 'router', phase: 'ready' });
    router.proc.kill('SIGTERM');
    const res = await router.done;
    assert.equal(res.code, 0, 'SIGTERM drains and exits 0');
  });
});
