/**
 * Issue 8: a nats-server that requires credentials and per-role permissions
 * (deploy/nats/auth.conf): the job completes with correct credentials, wrong ones fail fast
 * with exit 2 naming the keys, and a client with replayer permissions cannot pause the job.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { join } from 'node:path';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { APACHE_LOG, readReport, REPO_ROOT } from '../support/havok-cli.js';
import { batchLines, post, startGateway } from '../support/gateway.js';

const withAuth = { args: ['-c', join(REPO_ROOT, 'deploy', 'nats', 'auth.conf')] };

describe('NATS authentication and permissions', { timeout: 120_000 }, () => {
  test('correct credentials: the job completes; replayer permissions cannot pause it', async () => {
    await using fx = await havokFixture({ nats: withAuth, target: true });
    const job = fx.job({ job: 'auth', log: APACHE_LOG, job_toml: 'speed = 300\nmax_idle_ms = 20' });
    const run = fx.havok(['local', '--config', job.config, '--set', 'nats.user="havok"', '--set', 'nats.password="havok-secret"']);
    await check(() => fx.target.count() > 100, 30_000, 'the job to run');
    const asReplayer = await fx.run(['ctl', 'pause', '--job', 'auth', '--nats', fx.nats.url, '--set', 'nats.user="replayer"', '--set', 'nats.password="replayer-secret"']);
    assert.notEqual(asReplayer.code, 0, `a replayer-role client paused the job:\n${asReplayer.stdout}`);
    const status = await fx.run(['ctl', 'status', '--json', '--job', 'auth', '--nats', fx.nats.url, '--set', 'nats.user="ctl"', '--set', 'nats.password="ctl-secret"']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { view: { state: string } }).view.state, 'running', 'the job was not paused');
    const res = await run.done;
    assert.equal(res.code, 0, res.stderr + res.stdout);
    assert.equal(fx.target.count(), 10_000);
    assert.deepEqual(readReport(job.report).accounting, { records_close: true, requests_close: true });
  });

  test('wrong credentials fail fast with exit 2 naming the keys', async () => {
    await using fx = await havokFixture({ nats: withAuth });
    const job = fx.job({ job: 'badauth', log: APACHE_LOG, target: 'http://127.0.0.1:1' });
    const started = Date.now();
    const res = await fx.run(['local', '--config', job.config, '--set', 'nats.user="havok"', '--set', 'nats.password="wrong"']);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /nats\.user, nats\.password: NATS at .* refused the credentials/);
    assert.ok(Date.now() - started < 10_000, 'fails fast');
    const actor = await fx.run(['replayer', '--config', job.config, '--set', 'nats.user="replayer"', '--set', 'nats.password="nope"']);
    assert.equal(actor.code, 2, actor.stderr);
  });

  test('gateway and console roles: the gateway stores with its credentials; neither role can do the other\'s job', async () => {
    await using fx = await havokFixture({ nats: withAuth });
    const gw = await startGateway(fx, '[gateway.repos.web]\n', 'gateway', ['--set', 'nats.user="gateway"', '--set', 'nats.password="gateway-secret"']);
    assert.deepEqual((await post(gw.url, 'web', batchLines(0, 20))).json, { accepted: 20, dropped: 0, malformed: 0, sampled_out: 0 });
    // The gateway role may not steer a job; the console role may (it sends the ctl requests).
    const asGateway = await fx.run(['ctl', 'status', '--job', 'nojob', '--nats', fx.nats.url, '--set', 'nats.user="gateway"', '--set', 'nats.password="gateway-secret"']);
    assert.notEqual(asGateway.code, 0);
    assert.match(asGateway.stderr, /[Pp]ermission/, asGateway.stderr);
    const asConsole = await fx.run(['ctl', 'status', '--job', 'nojob', '--nats', fx.nats.url, '--set', 'nats.user="console"', '--set', 'nats.password="console-secret"']);
    assert.doesNotMatch(asConsole.stderr, /[Pp]ermission/, 'the console role may send control requests (no time wheel answers here)');
  });
});
