/**
 * Issue 3 acceptance, the counts: `havok ctl stop` ends a running job with a report whose
 * accounting closes, and 1,000 garbage control messages get an error reply or are ignored while
 * the job completes exactly. Neither checks timing, so this file may run beside another
 * (scripts/test.sh); pause, resume and speed are in control.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Packr } from 'msgpackr';
import { check } from '../support/check.js';
import { ctl } from '../support/ctl.js';
import { havokFixture, type HavokFixture } from '../support/fixture.js';
import { pacedJsonl, readReport } from '../support/havok-cli.js';
import { decode, subjects } from '../../shared/protocol.js';

/** `havok local` on a paced JSONL log of `lines` lines (100/s) to the fixture's target, once it has served `started` requests. */
async function runningJob(fx: HavokFixture<{ target: true }>, name: string, jobToml: string, lines: number, started: number) {
  const target = fx.target;
  const job = fx.job({ job: name, job_toml: jobToml, format: 'jsonl', lines: pacedJsonl(lines, 10, '/items/') });
  const run = fx.havok(['local', '--config', job.config]);
  await check(() => target.count() >= started, 30_000, `${started} requests`);
  return { target, job, run };
}

describe('live control of a running job: stop and garbage', { timeout: 240_000 }, () => {
  test('stop ends the job with a report whose accounting closes', async () => {
    await using fx = await havokFixture({ target: true });
    const { target, job, run } = await runningJob(fx, 'stopme', 'speed = 1\nrate = 1.5', 3000, 200);
    const stopped = await ctl(fx, 'stopme', 'stop');
    assert.equal(stopped.view.state, 'stopped');
    const res = await run.done;
    assert.equal(res.code, 0, res.stderr);
    const report = readReport(job.report);
    assert.equal(report.state, 'stopped');
    assert.equal(report.records.read, 3000);
    assert.equal(report.records.dispatched, 3000, 'every record read counts: sent or never sent');
    assert.equal(report.requests.expected, 4500);
    assert.ok((report.requests.dropped_by_reason.stopped ?? 0) > 3000, JSON.stringify(report.requests));
    assert.equal(report.requests.sent, target.count());
    assert.equal(report.requests.sent + report.requests.dropped, report.requests.expected);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
  });

  test('1,000 garbage control messages get an error reply or are ignored; the job completes exactly', async () => {
    await using fx = await havokFixture({ target: true });
    // 10 s of log: the garbage is all sent while the job runs, beside another file's load too.
    const { target, job, run } = await runningJob(fx, 'fuzz', 'speed = 1', 1000, 50);
    const nc = await fx.connect();
    const packr = new Packr({ useRecords: false });
    const badOps = ['', 'PAUSE', 'explode', 'speed ', 'rate', 'speed', 'resume', 'unknown'];
    let errors = 0;
    let ignored = 0;
    const garbage = (i: number): Uint8Array => {
      switch (i % 5) {
        case 0:
          return randomBytes(1 + (i % 64));
        case 1:
          return packr.pack({ v: 99, kind: 'control', sender: 'fuzz', op: 'pause' });
        case 2:
          return packr.pack({ v: 1, kind: 'control', sender: 'fuzz', op: badOps[i % badOps.length], value: [-1, 0, 1e12, -0.5][i % 4] });
        case 3:
          return packr.pack({ v: 1, kind: 'control', sender: 'fuzz', op: i % 2 ? 42 : null });
        default:
          return packr.pack([1, 2, 3, 'control', { op: 'stop' }]);
      }
    };
    const send = async (i: number): Promise<void> => {
      try {
        const reply = decode((await nc.request(subjects.control('fuzz'), garbage(i), { timeout: 5000 })).data, 'control_reply');
        assert.equal(reply.ok, false, `message ${i} was accepted: ${JSON.stringify(reply)}`);
        assert.ok(reply.error && reply.error.length > 0);
        errors++;
      } catch (err) {
        if ((err as Error).name === 'AssertionError') throw err;
        ignored++;
      }
    };
    // 100 at a time: all of them reach the time wheel while the job still runs, on a loaded machine too.
    for (let i = 0; i < 1000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => send(i + k)));
    const res = await run.done;
    assert.equal(res.code, 0, res.stderr);
    assert.equal(errors + ignored, 1000);
    assert.ok(errors > 900, `${errors} error replies, ${ignored} ignored`);
    assert.equal(target.count(), 1000);
    const report = readReport(job.report);
    assert.equal(report.state, 'finished');
    assert.equal(report.requests.sent, 1000);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
  });
});
