/**
 * Issue 3 acceptance: live control of a running job (pause, resume, speed, stop, status) through
 * the real `havok ctl` CLI, and a fuzz of garbage control messages, against real processes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';
import { check, startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { startTarget } from '../support/target-server.js';
import { pacedJsonl, readReport, runHavok, startHavok, writeJob } from '../support/havok-cli.js';
import { decode, subjects, type ControlReplyMsg, type JobView } from '../../shared/protocol.js';



async function ctl(nats: string, job: string, ...args: string[]): Promise<{ code: number; view: JobView; reply: ControlReplyMsg }> {
  const res = await runHavok(['ctl', ...args, '--job', job, '--nats', nats, '--json']);
  assert.ok(res.stdout.length > 0, `havok ctl ${args.join(' ')} printed nothing:\n${res.stderr}`);
  const reply = JSON.parse(res.stdout) as ControlReplyMsg;
  return { code: res.code, view: reply.view, reply };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('live control of a running job', { timeout: 240_000 }, () => {
  let nats: NatsServerHandle;
  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    await nats.stop();
  });

  test('pause holds every request, resume continues without a burst, speed 4 finishes sooner, status tells', async () => {
    const target = await startTarget();
    try {
      // 3,000 requests 10 ms apart: a 30 s replay at speed 1 (100 req/s).
      const job = writeJob({ job: 'ctl', target: target.url, nats: nats.url, job_toml: 'speed = 1', format: 'jsonl', lines: pacedJsonl(3000, 10, '/items/') });
      const run = startHavok(['local', '--config', job.config]);

      await check(() => target.count() >= 300, 60_000, '300 requests');
      const paused = await ctl(nats.url, 'ctl', 'pause');
      assert.equal(paused.code, 0);
      assert.equal(paused.view.state, 'paused');
      const pausedAt = Date.now();
      await sleep(300); // lead window (50 ms) plus generous slack for a loaded machine
      const countHeld = target.count();
      const s1 = await ctl(nats.url, 'ctl', 'status');
      await sleep(2000);
      const s2 = await ctl(nats.url, 'ctl', 'status');
      assert.equal(target.count(), countHeld, 'no request arrives while paused');
      assert.equal(s2.view.state, 'paused');
      assert.equal(s2.view.position, s1.view.position, 'log time is frozen while paused');
      assert.ok(s1.view.position > 0 && s1.view.replayers.length === 1);
      // Arrivals stopped within the lead window (plus slack) of the pause.
      const lastBefore = Math.max(...target.requests.map((r) => r.at));
      assert.ok(lastBefore - pausedAt < 300, `last request ${Math.round(lastBefore - pausedAt)} ms after pause`);

      const resumed = await ctl(nats.url, 'ctl', 'resume');
      assert.equal(resumed.view.state, 'running');
      const resumeAt = Date.now();
      await sleep(1000);
      // At 100 req/s one second brings ~100 requests; a catch-up burst would bring ~220+ (the pause).
      const afterResume = target.count() - countHeld;
      assert.ok(afterResume > 20 && afterResume < 180, `${afterResume} requests in the first second after resume`);
      const resumedFrom = target.requests.find((r) => r.at >= resumeAt);
      assert.ok(resumedFrom, 'requests resumed');
      // The first request after resume continues where the log stopped.
      const firstItem = Number(resumedFrom.url.split('/')[2]);
      assert.ok(Math.abs(firstItem - countHeld) < 30, `resumed at item ${firstItem}, held ${countHeld}`);

      const before4 = target.count();
      const sp = await ctl(nats.url, 'ctl', 'speed', '4');
      assert.equal(sp.view.speed, 4);
      const speedAt = Date.now();
      const remaining = 3000 - before4;
      const res = await run.done;
      const tookMs = Date.now() - speedAt;
      assert.equal(res.code, 0, res.stderr);
      // At speed 1 the rest would take remaining × 10 ms; at 4 a quarter of it (plus the
      // report's settling). Allow up to half, for a loaded machine.
      assert.ok(tookMs < (remaining * 10) / 2 + 3000, `rest took ${tookMs} ms for ${remaining} requests`);
      assert.equal(target.count(), 3000, 'the total is exact');
      const report = readReport(job.report);
      assert.equal(report.requests.sent, 3000);
      assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    } finally {
      await target.close();
    }
  });

  test('stop ends the job with a report whose accounting closes', async () => {
    const target = await startTarget();
    try {
      const job = writeJob({ job: 'stopme', target: target.url, nats: nats.url, job_toml: 'speed = 1\nrate = 1.5', format: 'jsonl', lines: pacedJsonl(3000, 10, '/items/') });
      const run = startHavok(['local', '--config', job.config]);
      await check(() => target.count() >= 200, 30_000, '200 requests');
      const stopped = await ctl(nats.url, 'stopme', 'stop');
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
    } finally {
      await target.close();
    }
  });

  test('1,000 garbage control messages get an error reply or are ignored; the job completes exactly', async () => {
    const target = await startTarget();
    try {
      const job = writeJob({ job: 'fuzz', target: target.url, nats: nats.url, job_toml: 'speed = 2', format: 'jsonl', lines: pacedJsonl(1000, 10, '/items/') });
      const run = startHavok(['local', '--config', job.config]);
      await check(() => target.count() >= 50, 30_000, 'the job to run');
      const nc = await connect({ servers: nats.url });
      const packr = new Packr({ useRecords: false });
      const badOps = ['', 'PAUSE', 'explode', 'speed ', 'rate', 'speed', 'resume', 'unknown'];
      let errors = 0;
      let ignored = 0;
      for (let i = 0; i < 1000; i++) {
        let payload: Uint8Array;
        switch (i % 5) {
          case 0:
            payload = randomBytes(1 + (i % 64));
            break;
          case 1:
            payload = packr.pack({ v: 99, kind: 'control', sender: 'fuzz', op: 'pause' });
            break;
          case 2:
            payload = packr.pack({ v: 1, kind: 'control', sender: 'fuzz', op: badOps[i % badOps.length], value: [-1, 0, 1e12, -0.5][i % 4] });
            break;
          case 3:
            payload = packr.pack({ v: 1, kind: 'control', sender: 'fuzz', op: i % 2 ? 42 : null });
            break;
          default:
            payload = packr.pack([1, 2, 3, 'control', { op: 'stop' }]);
        }
        try {
          const reply = decode((await nc.request(subjects.control('fuzz'), payload, { timeout: 2000 })).data, 'control_reply');
          assert.equal(reply.ok, false, `message ${i} was accepted: ${JSON.stringify(reply)}`);
          assert.ok(reply.error && reply.error.length > 0);
          errors++;
        } catch (err) {
          if ((err as Error).name === 'AssertionError') throw err;
          ignored++;
        }
      }
      await nc.close();
      const res = await run.done;
      assert.equal(res.code, 0, res.stderr);
      assert.equal(errors + ignored, 1000);
      assert.ok(errors > 900, `${errors} error replies, ${ignored} ignored`);
      assert.equal(target.count(), 1000);
      const report = readReport(job.report);
      assert.equal(report.state, 'finished');
      assert.equal(report.requests.sent, 1000);
      assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    } finally {
      await target.close();
    }
  });
});
