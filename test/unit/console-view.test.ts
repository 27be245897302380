/**
 * The console's view model: status, router, stats and ended messages folded with a fake clock,
 * and the address/token rules of access.ts. No servers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { hostAllowed, isLoopback, parseListen, presentedToken, requiredToken, tokenMatches } from '../../services/console/access.js';
import { parseControl } from '../../services/console/server.js';
import { compact, diffSummary, MAX_POINTS, newConsoleState, onEnded, onRouter, onStats, onStatus, progressOf, tick, viewOf, type Series } from '../../services/console/view.js';
import { ConfigError } from '../../shared/errors.js';
import { envelope, JOB_STATES, type DiffStats, type ReplayerInfo } from '../../shared/protocol.js';
import { lifeStats, routerMsg, statsMsg, statusMsg, wireOf } from '../support/reporter-fixtures.js';

const T = 1_700_000_000_000;
const info = (id: string, boot: string, over: Partial<ReplayerInfo> = {}): ReplayerInfo => ({ id, boot, capacity: 100, inflight: 3, last_heartbeat_ms: 40, routed: 10, rps: 50, ...over });

describe('console view: folding the job messages', () => {
  test('before any message the page says waiting, with no totals and no progress', () => {
    const v = viewOf(newConsoleState('j', T));
    assert.equal(v.state, 'waiting');
    assert.deepEqual(v.progress, { done: 0, total: null, fraction: null, eta_s: null });
    assert.equal(v.speed, null);
    assert.equal(v.behind_live_ms, null);
    assert.equal(v.diff, null);
    assert.equal(v.ended, null);
  });

  test('a tick turns cumulative counters into per-second rates and interval percentiles', () => {
    const s = newConsoleState('j', T);
    onStats(s, statsMsg({ id: 'a', boot: 'b1', n: 0, sent: 100, ok: 90, failed: 10, latency: wireOf(...Array(100).fill(5)), lateness: wireOf(1, 2, 3), interval_sent: 100 }));
    tick(s, T + 1000);
    onStats(s, statsMsg({ id: 'a', boot: 'b1', n: 1, sent: 300, ok: 290, failed: 10, latency: wireOf(...Array(200).fill(20)), interval_sent: 200 }));
    tick(s, T + 3000); // a two-second point: 200 requests = 100/s
    const v = viewOf(s);
    assert.deepEqual(v.series.t, [T + 1000, T + 3000]);
    assert.deepEqual(v.series.sent, [100, 100]);
    assert.deepEqual(v.series.ok, [90, 100]);
    assert.deepEqual(v.series.failed, [10, 0]);
    assert.ok(Math.abs(v.series.p50[0] - 5) < 0.01 && Math.abs(v.series.p99[1] - 20) < 0.03, JSON.stringify(v.series));
    assert.ok(v.series.late_p99[0] >= 2.99 && v.series.late_p99[1] === 0);
    assert.deepEqual(v.totals, { sent: 300, ok: 290, failed: 10, dropped: 0, rps: 100 });
  });

  test('a stats message repeated or out of order does not count twice', () => {
    const s = newConsoleState('j', T);
    onStats(s, lifeStats('a', 'b1', 1, 50));
    onStats(s, lifeStats('a', 'b1', 0, 20));
    onStats(s, lifeStats('a', 'b1', 1, 50));
    assert.equal(viewOf(s).totals.sent, 50);
  });

  test('replayers: joined when first listed, out of the table and in the left list when the router drops them', () => {
    const s = newConsoleState('j', T);
    onRouter(s, routerMsg({ members: ['r1@x', 'r2@y'], replayers: [info('r1', 'x'), info('r2', 'y', { rps: 7 })] }), T + 100);
    let v = viewOf(s);
    assert.deepEqual(v.replayers.map((r) => [r.id, r.state, r.joined_at, r.rps]), [['r1', 'up', T + 100, 50], ['r2', 'up', T + 100, 7]]);
    // r1 evicted; r3 joins later under a new life.
    onRouter(s, routerMsg({ members: ['r2@y'], replayers: [info('r2', 'y')] }), T + 3000);
    onRouter(s, routerMsg({ members: ['r2@y', 'r3@z'], replayers: [info('r2', 'y'), info('r3', 'z')] }), T + 4000);
    v = viewOf(s);
    assert.deepEqual(v.replayers.map((r) => r.id), ['r2', 'r3']);
    assert.deepEqual(v.departed, [{ id: 'r1', boot: 'x', joined_at: T + 100, left_at: T + 3000 }]);
    assert.equal(v.replayers[1].joined_at, T + 4000);
  });

  test('a replayer restarted under the same id is a new life: the old one left, the new one joined', () => {
    const s = newConsoleState('j', T);
    onRouter(s, routerMsg({ members: ['r1@old'], replayers: [info('r1', 'old')] }), T);
    onRouter(s, routerMsg({ members: ['r1@new'], replayers: [info('r1', 'new')] }), T + 500);
    const v = viewOf(s);
    assert.deepEqual(v.replayers.map((r) => [r.id, r.boot, r.joined_at]), [['r1', 'new', T + 500]]);
    assert.deepEqual(v.departed.map((d) => d.boot), ['old']);
  });

  test('status: state, speed, rate, log position; a behind-live field is shown when the status carries one', () => {
    const s = newConsoleState('j', T);
    onStatus(s, statusMsg({ state: JOB_STATES.paused, speed: 4, rate: 0.5, position: T - 5000 }));
    let v = viewOf(s);
    assert.deepEqual([v.state, v.speed, v.rate, v.position, v.behind_live_ms], ['paused', 4, 0.5, T - 5000, null]);
    onStatus(s, { ...statusMsg(), behind_live_ms: 2500 } as ReturnType<typeof statusMsg>);
    v = viewOf(s);
    assert.equal(v.behind_live_ms, 2500);
  });

  test('top routes by count with their percentiles; errors are transport errors and 4xx/5xx answers', () => {
    const s = newConsoleState('j', T);
    onStats(
      s,
      statsMsg({
        id: 'a',
        n: 0,
        sent: 30,
        by_status: { '200': 20, '404': 6, '503': 1 },
        by_error: { ECONNRESET: 3 },
        by_api: { 'GET /a': { count: 20, failed: 0, latency: wireOf(...Array(20).fill(4)) }, 'GET /b': { count: 10, failed: 7, latency: wireOf(9) } },
      }),
    );
    const v = viewOf(s);
    assert.deepEqual(v.routes.map((r) => [r.api, r.count, r.failed]), [['GET /a', 20, 0], ['GET /b', 10, 7]]);
    assert.ok(Math.abs(v.routes[0].p99_ms - 4) < 0.01);
    assert.deepEqual(v.errors, [{ error: 'HTTP 404', count: 6 }, { error: 'ECONNRESET', count: 3 }, { error: 'HTTP 503', count: 1 }]);
  });

  test('progress: unknown until the source is read; then done/total and an ETA at the recent rate', () => {
    const series: Series = { t: [T + 1000, T + 2000], sent: [100, 100], ok: [], failed: [], p50: [], p99: [], late_p99: [], span: [1000, 1000] };
    // Rows: status, done, expected progress.
    const rows: Array<[string, Parameters<typeof statusMsg>[0], number, ReturnType<typeof progressOf>]> = [
      ['still reading', { state: JOB_STATES.running, sources_ended: 0, copies: 500, started_at: T }, 100, { done: 100, total: null, fraction: null, eta_s: null }],
      ['read, 1000 to go at 100/s', { state: JOB_STATES.running, copies: 800, pending: 400, rate: 0.5, started_at: T }, 0, { done: 0, total: 1000, fraction: 0, eta_s: 10 }],
      ['half done', { state: JOB_STATES.running, copies: 1000, started_at: T }, 500, { done: 500, total: 1000, fraction: 0.5, eta_s: 5 }],
      ['rate points from before the start do not count', { state: JOB_STATES.running, copies: 1000, started_at: T + 5000 }, 500, { done: 500, total: 1000, fraction: 0.5, eta_s: null }],
      ['stopped: what was never sent is accounted', { state: JOB_STATES.stopped, copies: 300, never_sent: 700, started_at: T }, 300, { done: 1000, total: 1000, fraction: 1, eta_s: 0 }],
    ];
    for (const [name, st, done, want] of rows) assert.deepEqual(progressOf(statusMsg(st), done, series), want, name);
  });

  test('the diff summary sums each life\'s latest diff counters: compared, skipped, endpoints, fields raw > noise, target failures', () => {
    const s = newConsoleState('j', T);
    const target = (failed: number) => ({ sent: 10, ok: 10 - failed, failed, by_status: {}, by_error: {}, latency: [], lateness: [] });
    const diff = (total: number, raw: number, noise: number, failed: number): DiffStats => ({
      endpoints: { '/items/:id': { total, skipped: { candidate_error: failed }, fields: { 'body.price': { primitive: { raw, noise } }, 'body.ts': { primitive: { raw: noise, noise } } } } },
      targets: { primary: target(0), candidate: target(failed) },
      bodies: {},
      examples: [],
    });
    onStats(s, { ...statsMsg({ id: 'a', n: 0 }), diff: diff(10, 1, 5, 0) });
    onStats(s, { ...statsMsg({ id: 'b', n: 0 }), diff: diff(5, 9, 0, 2) });
    // a's later counters replace its earlier ones (cumulative per life)
    onStats(s, { ...statsMsg({ id: 'a', n: 1 }), diff: diff(12, 2, 6, 1) });
    assert.deepEqual(viewOf(s).diff, { 'records compared': 17, 'records skipped': 3, endpoints: 1, 'fields raw > noise': 1, 'primary failed': 0, 'candidate failed': 3 });
    assert.equal(diffSummary(new Map()), null);
  });

  test('ended is kept once, with its exit code and time', () => {
    const s = newConsoleState('j', T);
    onEnded(s, { ...envelope('ended', 'rep'), job: 'j', exit_code: 0 }, T + 10);
    onEnded(s, { ...envelope('ended', 'rep'), job: 'j', exit_code: 1 }, T + 20);
    assert.deepEqual(viewOf(s).ended, { exit_code: 0, at: T + 10 });
  });

  test('a long job keeps at most MAX_POINTS chart points, spanning the whole job', () => {
    const s = newConsoleState('j', T);
    for (let i = 1; i <= MAX_POINTS * 3; i++) {
      onStats(s, lifeStats('a', 'b', i, i * 10));
      tick(s, T + i * 1000);
    }
    const v = viewOf(s);
    assert.ok(v.series.t.length <= MAX_POINTS && v.series.t.length > MAX_POINTS / 4, `${v.series.t.length} points`);
    assert.equal(v.series.t.at(-1), T + MAX_POINTS * 3000);
    assert.equal(v.series.span.reduce((a, b) => a + b, 0), MAX_POINTS * 3000, 'the spans cover the job');
    assert.ok(v.series.sent.every((x) => x === 10), 'a steady 10/s stays 10/s after merging');
  });

  test('compact keeps the span-weighted rate and the larger percentile (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 500 })), { minLength: 1, maxLength: 50 }), (pts) => {
        const series: Series = { t: [], sent: [], ok: [], failed: [], p50: [], p99: [], late_p99: [], span: [] };
        let t = 0;
        for (const [span, rate, p99] of pts) {
          t += span;
          series.t.push(t);
          series.span.push(span);
          series.sent.push(rate);
          series.ok.push(rate);
          series.failed.push(0);
          series.p50.push(p99);
          series.p99.push(p99);
          series.late_p99.push(p99);
        }
        const requests = pts.reduce((a, [span, rate]) => a + (span * rate) / 1000, 0);
        compact(series);
        assert.equal(series.t.length, Math.ceil(pts.length / 2));
        assert.equal(series.t.at(-1), t);
        const after = series.sent.reduce((a, r, i) => a + (r * series.span[i]) / 1000, 0);
        // Rates are rounded to 0.1/s per point.
        assert.ok(Math.abs(after - requests) <= 0.05 * series.span.reduce((a, b) => a + b, 0) / 1000 + 1e-6, `${after} vs ${requests}`);
        assert.equal(Math.max(...series.p99), Math.max(...pts.map((p) => p[2])));
      }),
    );
  });
});

describe('console access: address, token, control requests', () => {
  test('listen addresses', () => {
    assert.deepEqual(parseListen('127.0.0.1:8089'), { host: '127.0.0.1', port: 8089 });
    assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
    assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListen(':0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen('8090'), { host: '127.0.0.1', port: 8090 });
    for (const bad of ['', 'host', 'a:b', '1.2.3.4:70000', '::1:80']) assert.throws(() => parseListen(bad), ConfigError, bad);
  });

  test('loopback needs no token; any other address does, and the error names where to give it', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'example.com', '128.0.0.1']) assert.equal(isLoopback(h), false, h);
    assert.equal(requiredToken({ host: '127.0.0.1', port: 1 }, undefined), undefined);
    assert.equal(requiredToken({ host: '0.0.0.0', port: 1 }, 's3cret'), 's3cret');
    assert.throws(
      () => requiredToken({ host: '0.0.0.0', port: 1 }, '', '--console'),
      (err: ConfigError) => err.issues[0].key === '--console' && /--token or HAVOK_CONSOLE_TOKEN/.test(err.issues[0].message),
    );
  });

  test('without a token, only loopback names and IP literals are accepted as Host (no DNS rebinding)', () => {
    for (const h of ['127.0.0.1:8089', 'localhost:8089', '[::1]:8089', '10.1.2.3:8089', 'localhost']) assert.equal(hostAllowed(h), true, h);
    for (const h of [undefined, '', 'evil.example:8089', 'rebind.127.0.0.1.nip.io:8089']) assert.equal(hostAllowed(h), false, String(h));
  });

  test('tokens compare exactly, from a bearer header or the query', () => {
    assert.equal(tokenMatches('abc', 'abc'), true);
    for (const other of [undefined, '', 'ab', 'abcd', 'ABC']) assert.equal(tokenMatches('abc', other), false, String(other));
    assert.equal(presentedToken('Bearer  xyz ', {}), 'xyz');
    assert.equal(presentedToken(undefined, { token: 'q' }), 'q');
    assert.equal(presentedToken('Basic Zm9v', { token: ['a'] }), undefined);
  });

  test('control requests: ops of havok ctl, a number for speed and rate', () => {
    assert.deepEqual(parseControl({ op: 'pause' }), { op: 'pause' });
    assert.deepEqual(parseControl({ op: 'speed', value: 4 }), { op: 'speed', value: 4 });
    assert.deepEqual(parseControl({ op: 'rate', value: '0.5' }), { op: 'rate', value: 0.5 });
    for (const bad of [null, {}, { op: 'explode' }, { op: 'speed' }, { op: 'speed', value: 'fast' }, { op: 'rate', value: '' }]) {
      assert.ok('error' in parseControl(bad), JSON.stringify(bad));
    }
  });
});
