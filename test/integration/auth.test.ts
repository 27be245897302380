/**
 * Issue 8: a nats-server that requires credentials and per-role permissions
 * (deploy/nats/auth.conf): the job completes with correct credentials, wrong ones fail fast
 * with exit 2 naming the keys, and a client with replayer permissions cannot pause the job.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { check, startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { startTarget } from '../support/target-server.js';
import { APACHE_LOG, readReport, REPO_ROOT, runHavok, startHavok, writeJob } from '../support/havok-cli.js';

describe('NATS authentication and permissions', { timeout: 120_000 }, () => {
  let nats: NatsServerHandle;
  before(async () => {
    nats = await startNatsServer({ args: ['-c', join(REPO_ROOT, 'deploy', 'nats', 'auth.conf')] });
  });
  after(async () => {
    await nats.stop();
  });

  test('correct credentials: the job completes; replayer permissions cannot pause it', async () => {
    const target = await startTarget();
    try {
      const job = writeJob({ job: 'auth', log: APACHE_LOG, target: target.url, nats: nats.url, job_toml: 'speed = 300\nmax_idle_ms = 20' });
      const run = startHavok(['local', '--config', job.config, '--set', 'nats.user="havok"', '--set', 'nats.password="havok-secret"']);
      await check(() => target.count() > 100, 30_000, 'the job to run');
      const asReplayer = await runHavok(['ctl', 'pause', '--job', 'auth', '--nats', nats.url, '--set', 'nats.user="replayer"', '--set', 'nats.password="replayer-secret"']);
      assert.notEqual(asReplayer.code, 0, `a replayer-role client paused the job:\n${asReplayer.stdout}`);
      const status = await runHavok(['ctl', 'status', '--json', '--job', 'auth', '--nats', nats.url, '--set', 'nats.user="ctl"', '--set', 'nats.password="ctl-secret"']);
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { view: { state: string } }).view.state, 'running', 'the job was not paused');
      const res = await run.done;
      assert.equal(res.code, 0, res.stderr + res.stdout);
      assert.equal(target.count(), 10_000);
      assert.deepEqual(readReport(job.report).accounting, { records_close: true, requests_close: true });
    } finally {
      await target.close();
    }
  });

  test('wrong credentials fail fast with exit 2 naming the keys', async () => {
    const job = writeJob({ job: 'badauth', log: APACHE_LOG, target: 'http://127.0.0.1:1', nats: nats.url });
    const started = Date.now();
    const res = await runHavok(['local', '--config', job.config, '--set', 'nats.user="havok"', '--set', 'nats.password="wrong"']);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /nats\.user, nats\.password: NATS at .* refused the credentials/);
    assert.ok(Date.now() - started < 10_000, 'fails fast');
    const actor = await runHavok(['replayer', '--config', job.config, '--set', 'nats.user="replayer"', '--set', 'nats.password="nope"']);
    assert.equal(actor.code, 2, actor.stderr);
  });
});
