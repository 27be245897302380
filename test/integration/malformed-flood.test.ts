/**
 * Invariant 6 under fire: 1,000 malformed messages on every subject of a running job (the record
 * stream, dispatch, the replayer's own subject, heartbeats, router state, stats, status, control
 * and ended). No actor crashes, each counts what it dropped, and the job's result is what it
 * would have been: every record sent once, accounting closed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jobSubjects } from '../../shared/protocol.js';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { garbageMessages } from '../support/garbage.js';
import { pacedJsonl, readReport } from '../support/havok-cli.js';

const PER_SUBJECT = 1000;

/** The count in an actor's "malformed messages dropped in all" line (0 without one). */
function malformedCount(stderr: string): number {
  for (const line of stderr.split('\n')) {
    if (!line.includes('malformed messages dropped in all')) continue;
    return (JSON.parse(line) as { malformed: number }).malformed;
  }
  return 0;
}

describe('malformed messages on every job subject', { timeout: 120_000 }, () => {
  test('1,000 on each subject mid-run: no actor crashes, each counts them, the result is unchanged', async () => {
    await using fx = await havokFixture({ target: true });
    const { target } = fx;
    const n = 3000;
    const job = fx.job({ job: 'flood', job_toml: 'speed = 1', format: 'jsonl', lines: pacedJsonl(n, 2, '/f/') });
    const args = ['--config', job.config];
    const actors = {
      reporter: fx.havok(['reporter', ...args]),
      router: fx.havok(['router', ...args]),
      replayer: fx.havok(['replayer', '--id', 'r1', ...args]),
      timewheel: fx.havok(['timewheel', ...args]),
      fetcher: fx.havok(['fetcher', ...args]),
    };
    await check(() => target.count() >= 200, 60_000, 'the job to be running');

    const nc = await fx.connect();
    const flooded = jobSubjects('flood', 'r1');
    for (const [i, subject] of flooded.entries()) {
      for (const m of garbageMessages(PER_SUBJECT, 1000 + i)) nc.publish(subject, m);
      await nc.flush();
    }

    const results = Object.fromEntries(await Promise.all(Object.entries(actors).map(async ([name, p]) => [name, await p.done] as const)));
    for (const [name, r] of Object.entries(results)) assert.equal(r.code, 0, `${name} exited ${r.code}\n${r.stderr.slice(-2000)}`);
    const report = readReport(job.report);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true }, JSON.stringify(report.requests));
    assert.equal(report.records.dispatched, n);
    assert.equal(report.requests.sent, n, JSON.stringify(report.requests));
    const urls = new Set(target.requests.map((r) => r.url));
    assert.equal(urls.size, n, 'every record reached the target once');
    assert.equal(target.count(), n, 'and nothing else did');
    // Each actor counted what reached it on the subjects it reads.
    const counts = Object.fromEntries(Object.entries(results).map(([name, r]) => [name, malformedCount(r.stderr)]));
    for (const name of ['reporter', 'router', 'replayer', 'timewheel'] as const) {
      assert.ok(counts[name]! >= PER_SUBJECT, `${name} counted ${counts[name]} malformed messages: ${JSON.stringify(counts)}`);
    }
    process.stdout.write(`# malformed messages counted per actor: ${JSON.stringify(counts)}\n`);
  });
});
