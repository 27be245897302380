import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SampleKeeper, mergeSamples } from '../../shared/trace/samples.js';
import { topSchema } from '../../shared/topk/settings.js';
import { findingsReport } from '../../services/reporter/findings.js';
import { samplesBlock, topBlock } from '../../services/reporter/html-findings.js';
import type { DueRecord, SampleWire } from '../../shared/protocol.js';
import { statsMsg, wireOf } from '../support/reporter-fixtures.js';

const rec = (seq: number, over: Partial<DueRecord> = {}): DueRecord => ({ ts: 0, src: 1, seq, line: seq + 1, method: 'GET', url: `/r/${seq}`, due: 1000 + seq, copy: 0, ...over });

describe('request samples', () => {
  test('the slowest n, n per error kind and per status class ≥ 400, with trace id and source position', () => {
    const k = new SampleKeeper(2, 'r1');
    k.offer(rec(0), 200, undefined, 10, 1, 'a');
    k.offer(rec(1), 200, undefined, 30, 2, 'b');
    k.offer(rec(2), 503, undefined, 5, 0, 'c');
    k.offer(rec(3), 404, undefined, 20, 0, 'd');
    k.offer(rec(4), 0, 'timeout', 5000, 3, 'e');
    k.offer(rec(5), 200, undefined, 1, 0, 'f');
    const by = (g: string): string[] => k.samples().filter((s) => s.group === g).map((s) => s.trace_id!);
    assert.deepEqual(by('slowest'), ['e', 'b']);
    assert.deepEqual(by('error:timeout'), ['e']);
    assert.deepEqual(by('status:5xx'), ['c']);
    assert.deepEqual(by('status:4xx'), ['d']);
    const e = k.samples().find((s) => s.group === 'error:timeout')!;
    assert.deepEqual({ ...e }, { group: 'error:timeout', method: 'GET', url: '/r/4', status: 0, error: 'timeout', latency_ms: 5000, lateness_ms: 3, replayer: 'r1', src: 1, seq: 4, line: 5, due: 1004, trace_id: 'e' });
  });
  test('property: merging replayers\' samples = the samples of one replayer that saw everything', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(200, 404, 500), fc.integer({ min: 0, max: 1e6 })), { maxLength: 200 }), fc.integer({ min: 1, max: 5 }), (reqs, n) => {
        const parts = [0, 1, 2, 3].map(() => new SampleKeeper(n, 'r'));
        const whole = new SampleKeeper(n, 'r');
        reqs.forEach(([part, status, us], i) => {
          parts[part].offer(rec(i), status, undefined, us / 1000, 0, `t${i}`);
          whole.offer(rec(i), status, undefined, us / 1000, 0, `t${i}`);
        });
        const lat = (l: SampleWire[]): string[] => l.map((s) => `${s.group}:${s.latency_ms}`);
        assert.deepEqual(lat(mergeSamples(parts.map((p) => p.samples()), n)), lat(mergeSamples([whole.samples()], n)));
      }),
    );
  });
});

describe('the report\'s heavy hitters and samples', () => {
  const top = (n: number, min: number, e: Array<[string, number, number, number]>) => ({ n, min, e: e.map(([k, c, err, f]) => ({ k, c, e: err, f, bs: 10 * c, br: 100 * c, bf: 110 * f, h: wireOf(...Array.from({ length: 3 }, () => 5)) })) });
  const lives = [
    statsMsg({ id: 'a', n: 3, top: { route: top(100, 2, [['/items/:id', 60, 0, 6], ['/a', 30, 0, 0], ['/b', 5, 2, 0]]) }, samples: [{ group: 'slowest', trace_id: 'ab12', method: 'GET', url: '/a', status: 200, latency_ms: 9, lateness_ms: 1, replayer: 'a', src: 0, seq: 7, line: 8, due: 5 }] }),
    statsMsg({ id: 'b', n: 5, top: { route: top(50, 0, [['/items/:id', 40, 0, 0], ['/c', 10, 0, 10]]) } }),
  ];
  const opts = { top: topSchema.parse({ show: 2, samples: 3 }), trace_url: 'http://jaeger:16686/trace/{trace_id}' };
  const r = findingsReport(lives, opts);
  test('merged per dimension: count ± bound, share, ok/failed requests and bytes, other', () => {
    const route = r.top!.route;
    assert.equal(route.requests, 150);
    assert.deepEqual(route.entries.map((e) => [e.key, e.count, e.bound, e.share, e.requests_ok, e.requests_failed]), [
      ['/items/:id', 100, 0, 0.6667, 94, 6],
      ['/a', 30, 0, 0.2, 30, 0],
    ]);
    assert.deepEqual(route.other, { count: 20, share: 0.1333 });
    assert.equal(route.bound_unlisted, 12, '/c: 10 in b and at most 2 (its min) in a');
    assert.equal(route.entries[0].bytes_failed, 660);
    assert.equal(route.entries[0].latency_ms?.count, 6);
  });
  test('samples get trace links from [reporter] trace_url', () => {
    assert.equal(r.samples![0].link, 'http://jaeger:16686/trace/ab12');
  });
  test('HTML: count ± bound, the other row, and the trace link, escaped', () => {
    const html = topBlock(findingsReport([statsMsg({ id: 'a', n: 1, top: { url: top(10, 1, [['/<x>', 8, 1, 0]]) } })], opts).top) + samplesBlock(r.samples);
    assert.match(html, /&lt;x&gt;/);
    assert.match(html, /8 <span class="bound">± 1<\/span>/);
    assert.match(html, /other \(outside the top 1; any one key ≤ 1\)/);
    assert.match(html, /<a href="http:\/\/jaeger:16686\/trace\/ab12">ab12<\/a>/);
    assert.match(html, /#0 line 8 \(record 7\)/);
  });
  test('no summaries sent (older replayers): no sections', () => {
    const none = findingsReport([statsMsg({ id: 'a', n: 0 })], opts);
    assert.deepEqual(none, {});
    assert.equal(topBlock(none.top) + samplesBlock(none.samples), '');
  });
});
