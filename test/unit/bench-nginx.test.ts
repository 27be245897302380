/**
 * The bench's nginx clock (bench/nginx.ts, bench/lateness.ts, bench/peers.ts, issue 15): the
 * pure parts that turn an access log and tool output into the figures. No nginx is started.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { targetLateness, uniformLateness, WARMUP_MS } from '../../bench/lateness.js';
import { lineOf, nginxConf, parseAccessLog, statsOf } from '../../bench/nginx.js';
import { cpuPerRequestUs, rateOf } from '../../bench/nginx-phase.js';
import { parseWrk } from '../../bench/peers.js';

test('access log: `$msec $request_uri` lines become arrivals in integer ms; a partial last line is skipped', () => {
  const text = '1700000000.123 /items/1?q=0\n1700000000.005 /items/2?q=1\n1700000001.000 /hey?q=0\n1700000001.9';
  assert.deepEqual(parseAccessLog(text), [
    { at_ms: 1_700_000_000_123, uri: '/items/1?q=0' },
    { at_ms: 1_700_000_000_005, uri: '/items/2?q=1' },
    { at_ms: 1_700_000_001_000, uri: '/hey?q=0' },
  ]);
  assert.deepEqual(parseAccessLog(''), []);
});

test('line numbers come from `q=`, and a URI without one gives -1', () => {
  assert.equal(lineOf('/items/7?q=12345'), 12345);
  assert.equal(lineOf('/items/7?q=3&x=1'), 3);
  assert.equal(lineOf('/items/7'), -1);
  assert.equal(lineOf('/items/7?q=abc'), -1);
});

test('stats and rate: count, first and last arrival whatever the order; rate over first→last', () => {
  const s = statsOf([
    { at_ms: 2000, uri: '/' },
    { at_ms: 1000, uri: '/' },
    { at_ms: 1500, uri: '/' },
  ]);
  assert.deepEqual(s, { count: 3, first_at: 1000, last_at: 2000 });
  assert.equal(rateOf(s), 2);
  assert.deepEqual(statsOf([]), { count: 0, first_at: 0, last_at: 0 });
  assert.equal(rateOf(statsOf([])), 0);
});

test('nginx.conf: one worker, the port, `return 200`, the $msec log format, every path under the prefix', () => {
  const c = nginxConf('/tmp/p', 4321);
  assert.match(c, /worker_processes 1;/);
  assert.match(c, /listen 127\.0\.0\.1:4321;/);
  assert.match(c, /return 200/);
  assert.match(c, /log_format bench '\$msec \$request_uri';/);
  const paths = [...c.matchAll(/\s(\/[^\s;']+)/g)].map((m) => m[1]);
  assert.ok(paths.length >= 8);
  assert.ok(paths.every((p) => p.startsWith('/tmp/p/')), paths.join(' '));
});

test('lateness at the target: arrival − (started_at + warmup + log offset), split at 2 s', () => {
  const started = 1_000_000;
  const origin = started + WARMUP_MS;
  // 1,000/s: line i is due at origin + i ms. Lines 0–1999 arrive 10 ms late, the rest on time.
  const arrivals: number[] = [];
  for (let i = 0; i < 4000; i++) arrivals.push(i, origin + i + (i < 2000 ? 10 : 0));
  const l = targetLateness(arrivals, started, 1000);
  assert.equal(Math.round(l.start.p50), 10);
  assert.equal(l.steady.max, 0);
  assert.equal(Math.round(l.overall.max), 10);
  assert.equal(l.start_late_5ms, 1);
  assert.equal(l.steady_late_5ms, 0);
  assert.equal(l.per_second.length, 4);
});

test('lateness against a uniform schedule: a tool that falls behind shows it, early arrivals count 0', () => {
  // 100/s: 100 arrivals on schedule from t=5000 (given shuffled), then 100 every 20 ms (half rate).
  const onTime = Array.from({ length: 100 }, (_, k) => 5000 + k * 10);
  const behind = Array.from({ length: 100 }, (_, k) => 6000 + k * 20);
  const l = uniformLateness([...behind, ...onTime].reverse(), 100);
  assert.equal(l.per_second[0].max, 0);
  // Arrival 100 + k is due at 6000 + 10k and arrives at 6000 + 20k: the last one 990 ms late.
  assert.equal(Math.round(l.overall.max), 990);
  const early = uniformLateness([0, 5, 10], 100); // ahead of a 10 ms spacing after the first
  assert.equal(early.overall.max, 0);
});

test('wrk summary: Requests/sec and the request count', () => {
  const out = 'Running 3s test @ http://127.0.0.1:1/\n  2 threads and 64 connections\n  359276 requests in 3.00s, 52.12MB read\nRequests/sec: 119758.21\nTransfer/sec:     17.37MB\n';
  assert.deepEqual(parseWrk(out), { rps: 119758.21, requests: 359276 });
  assert.deepEqual(parseWrk('unable to connect'), { rps: 0, requests: 0 });
});

test('CPU per request: the tree minus nginx, over the phase, per request', () => {
  const c = { seconds: 2, machine: 1.6, irq: 0, steal: 0, tree: 1.5, others: 0.1, by_role: { nginx: 0.5, replayer: 1 } };
  assert.equal(cpuPerRequestUs(c, 40_000), 50); // 1 core × 2 s / 40,000 requests
  assert.equal(cpuPerRequestUs(c, 0), 0);
});
