/**
 * Follow mode, the issue's acceptance: a job with `[fetcher.jetstream] follow = true` and
 * `[job] delay_ms = 1000` runs with `havok local` while lines are POSTed to a real `havok gateway`
 * in bursts (each line's `ts` = the instant of its POST, shuffled within a burst). Every line
 * reaches the real target within delay_ms + 1 s of its POST, not before ts + delay_ms, in ts
 * order; a line stored later than the window (ts 3 s old) still goes out, late. `havok ctl
 * status` shows how far behind live the job runs; `havok ctl stop` ends it with a report whose
 * accounting closes. A fetcher killed -9 and restarted (once for less, once for more than
 * delay_ms) goes on from its checkpoint: every line replayed once, the accounting closed. The
 * gateway stores a POST's lines as one message, so a fetcher's batch (10 records) begins and
 * ends inside messages, and a restarted fetcher resumes at a line inside one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { check } from '../support/check.js';
import { havokFixture, type HavokFixture } from '../support/fixture.js';
import { postUntilStored, startGateway, type GatewayHandle } from '../support/gateway.js';
import { readReport } from '../support/havok-cli.js';
import { positionParts, type ControlReplyMsg, type FollowMark } from '../../shared/protocol.js';

const DELAY_MS = 1000;
const BURSTS = 4;
const PER_BURST = 25;
/** Log-time spacing of a burst's lines, ms: arrivals over separate connections stay ordered. */
const STEP_MS = 20;

async function ctl(fx: Pick<HavokFixture, 'run' | 'nats'>, job: string, op: string, json = true): Promise<{ code: number; out: string }> {
  const res = await fx.run(['ctl', op, '--job', job, '--nats', fx.nats!.url, ...(json ? ['--json'] : [])]);
  return { code: res.code, out: res.stdout + res.stderr };
}

/** A gateway with repo `web`, and a follow job on it (`fetcherToml` under `[fetcher]`). */
async function followJob(fx: HavokFixture, job: string, fetcherToml = ''): Promise<{ gw: GatewayHandle; job: ReturnType<HavokFixture['job']> }> {
  const gw = await startGateway(fx, '[gateway.repos.web]');
  return {
    gw,
    job: fx.job({ job, lines: [], job_toml: `delay_ms = ${DELAY_MS}`, fetcher_toml: `type = "jetstream"\n${fetcherToml}`, extra: '[fetcher.jetstream]\nrepo = "web"\nfollow = true' }),
  };
}

/** Waits until the job runs with a replayer. */
async function runningWithReplayer(fx: HavokFixture, job: string): Promise<void> {
  await check(
    async () => {
      const s = await ctl(fx, job, 'status');
      if (s.code !== 0) return false;
      const v = (JSON.parse(s.out) as ControlReplyMsg).view;
      return v.state === 'running' && v.replayers.length > 0;
    },
    30_000,
    'the followed job to run with a replayer',
  );
}

describe('follow live traffic', { timeout: 180_000 }, () => {
  test('lines POSTed while the job runs reach the target within delay_ms + 1 s, in ts order; ctl stop ends it with a report', async () => {
    await using fx = await havokFixture({ target: true });
    const { gw, job } = await followJob(fx, 'follow');
    const run = fx.havok(['local', '--config', job.config]);
    await runningWithReplayer(fx, 'follow');

    /** url → [ts, POST instant]. */
    const sent = new Map<string, [number, number]>();
    for (let b = 0; b < BURSTS; b++) {
      const posted = Date.now();
      const lines = Array.from({ length: PER_BURST }, (_, i) => ({ ts: posted - i * STEP_MS, method: 'GET', url: `/live/${b}/${i}` }));
      // Shuffled: the time wheel orders them within the window.
      lines.sort(() => Math.random() - 0.5);
      if (b === 2) lines.push({ ts: posted - 3000, method: 'GET', url: '/late/0' });
      for (const l of lines) sent.set(l.url, [l.ts, posted]);
      assert.equal((await postUntilStored(gw.url, 'web', lines.map((l) => JSON.stringify(l)).join('\n') + '\n', `burst-${b}`)).result.json.accepted, lines.length);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await check(() => fx.target.count() >= sent.size, 15_000, `${sent.size} requests at the target`);

    const status = await ctl(fx, 'follow', 'status', false);
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, /behind\s+\d+\.\d s behind live/);
    const view = (JSON.parse((await ctl(fx, 'follow', 'status')).out) as ControlReplyMsg).view;
    assert.equal(typeof view.behind_live_ms, 'number');
    assert.ok(view.behind_live_ms! < 1000, `on schedule: ${view.behind_live_ms} ms behind live`);

    const worst = { afterPost: 0, early: -Infinity };
    const live = fx.target.requests.filter((r) => r.url.startsWith('/live/'));
    for (const r of fx.target.requests) {
      const [ts, posted] = sent.get(r.url) ?? assert.fail(`unexpected request ${r.url}`);
      const afterPost = r.at - posted;
      worst.afterPost = Math.max(worst.afterPost, afterPost);
      assert.ok(afterPost <= DELAY_MS + 1000, `${r.url} arrived ${Math.round(afterPost)} ms after its POST`);
      if (r.url.startsWith('/live/')) {
        worst.early = Math.max(worst.early, ts + DELAY_MS - r.at);
        assert.ok(r.at >= ts + DELAY_MS - 50, `${r.url} arrived ${Math.round(ts + DELAY_MS - r.at)} ms before ts + delay_ms`);
      }
    }
    assert.equal(live.length, BURSTS * PER_BURST);
    assert.equal(new Set(fx.target.requests.map((r) => r.url)).size, sent.size, 'each line once');
    const tss = live.map((r) => sent.get(r.url)![0]);
    for (let i = 1; i < tss.length; i++) assert.ok(tss[i - 1] <= tss[i], `ts order at the target: ${live[i - 1].url} then ${live[i].url}`);

    // Stored just before the stop: due in 1 s, so never sent; the accounting still closes.
    await postUntilStored(gw.url, 'web', Array.from({ length: 10 }, (_, i) => JSON.stringify({ ts: Date.now(), method: 'GET', url: `/tail/${i}` })).join('\n') + '\n', 'tail');
    const stop = await ctl(fx, 'follow', 'stop');
    assert.equal(stop.code, 0, stop.out);
    const res = await run.done;
    assert.equal(res.code, 0, res.stderr);
    const report = readReport(job.report);
    assert.equal(report.state, 'stopped');
    assert.ok(report.records.read >= sent.size, JSON.stringify(report.records));
    assert.equal(report.requests.sent, fx.target.count());
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    process.stderr.write(
      `# follow: ${sent.size} lines in ${BURSTS} bursts, latest arrival ${Math.round(worst.afterPost)} ms after its POST (bound ${DELAY_MS + 1000}), ` +
        `at most ${Math.round(Math.max(0, worst.early))} ms before ts + delay; ${report.records.read} read, ${report.requests.sent} sent, never sent ${report.requests.dropped_by_reason.stopped ?? 0}\n`,
    );
  });

  test('a fetcher killed -9 and restarted goes on exactly: every line once, lines stored while it was down too; the accounting closes', async () => {
    await using fx = await havokFixture({ target: true });
    const { gw, job } = await followJob(fx, 'followed', 'batch_size = 10');
    const args = ['--config', job.config];
    const reporter = fx.havok(['reporter', ...args]);
    fx.havok(['router', ...args]);
    fx.havok(['replayer', '--id', 'r1', ...args]);
    fx.havok(['timewheel', ...args]);
    let fetcher = fx.havok(['fetcher', ...args]);
    await runningWithReplayer(fx, 'followed');
    let total = 0;
    const burst = async (b: number, n = 25): Promise<void> => {
      const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ ts: Date.now(), method: 'GET', url: `/k/${b}/${i}` }));
      assert.equal((await postUntilStored(gw.url, 'web', lines.join('\n') + '\n', `k-${b}`)).result.json.accepted, n);
      total += n;
    };
    /** Where each restarted fetcher resumed: its mark's first line position, as SEQ and LINE. */
    const resumed: Array<{ seq: number; line: number }> = [];
    const restart = async (downMs: number): Promise<void> => {
      fetcher.proc.kill('SIGKILL');
      await fetcher.done;
      // Stored while no fetcher runs: read by the next one from its checkpoint.
      await burst(100 + downMs);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      const next = fx.havok(['fetcher', ...args]);
      fetcher = next;
      await check(() => next.stderr().includes('"resuming'), 20_000, 'the restarted fetcher to resume from its checkpoint');
      const log = next.stderr().split('\n').find((l) => l.includes('"resuming'))!;
      const [mark] = (JSON.parse(log) as { follow: FollowMark[] }).follow;
      resumed.push(positionParts(mark!.from));
    };
    await burst(0);
    await check(() => fx.target.count() >= total, 15_000, 'the first burst at the target');
    // One-line messages (a POST of one line) between multi-line ones.
    for (let i = 0; i < 3; i++) await burst(10 + i, 1);
    // Killed right after a POST, likely between reading and publishing, or publishing and saving.
    // 23 lines in one message, more than a batch: batches end and begin inside it.
    await burst(1, 23);
    await restart(300); // shorter than delay_ms: lines of the last delay_ms were published already
    await burst(2, 37);
    await check(() => fx.target.count() >= total, 15_000, `${total} requests at the target`);
    await restart(2 * DELAY_MS); // longer than delay_ms
    await burst(3);
    await check(() => fx.target.count() >= total, 20_000, `${total} requests at the target`);
    await new Promise((resolve) => setTimeout(resolve, DELAY_MS + 500)); // a twice-replayed line would show by now
    assert.equal((await ctl(fx, 'followed', 'stop')).code, 0);
    const res = await reporter.done;
    assert.equal(res.code, 0, res.stderr);

    const seen = new Map<string, number>();
    for (const r of fx.target.requests) seen.set(r.url, (seen.get(r.url) ?? 0) + 1);
    assert.deepEqual([...seen.entries()].filter(([, n]) => n > 1), [], 'no line is replayed twice');
    assert.equal(seen.size, total, 'every line stored is replayed');
    const report = readReport(job.report);
    assert.equal(report.records.read, total, JSON.stringify(report.records));
    assert.equal(report.records.dispatched, total);
    assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    // The second kill comes after everything was published: the mark is the last batch of the
    // 37-line message (or later in it), so that resume started inside a message.
    assert.ok(resumed[1]!.line > 0, `resumed inside a message: ${JSON.stringify(resumed)}`);
    process.stderr.write(`# follow restarts resumed at ${resumed.map((p) => `${p.seq}:${p.line}`).join(', ')} (SEQ:LINE)\n`);
  });

  test('plan of a follow job counts what is stored now and ends; speed other than 1 exits 2 naming the key', async () => {
    await using fx = await havokFixture({ target: true });
    const gw = await startGateway(fx, '[gateway.repos.web]');
    await postUntilStored(gw.url, 'web', Array.from({ length: 7 }, (_, i) => JSON.stringify({ ts: Date.now(), method: 'GET', url: `/p/${i}` })).join('\n') + '\n', 'p');
    const follow = '[fetcher.jetstream]\nrepo = "web"\nfollow = true';
    const ok = fx.job({ job: 'planned', lines: [], fetcher_toml: 'type = "jetstream"', extra: follow });
    const p = await fx.run(['plan', '--config', ok.config, '--json']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal((JSON.parse(p.stdout) as { read: number }).read, 7);
    const fast = fx.job({ job: 'fast', lines: [], job_toml: 'speed = 2', fetcher_toml: 'type = "jetstream"', extra: follow });
    const r = await fx.run(['plan', '--config', fast.config]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /job\.speed: must be 1/);
  });
});
