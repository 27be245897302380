import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SpaceSaving } from '../../shared/topk/space-saving.js';
import { mergeTop } from '../../shared/topk/merge.js';
import { RouteLearner } from '../../shared/topk/route-learner.js';
import { hostOf, TopRecorder, urlPath } from '../../shared/topk/recorder.js';
import { topSchema } from '../../shared/topk/settings.js';
import { percentilesMs } from '../../shared/histogram.js';
import { ApiNamer, OTHER_API } from '../../shared/api-name.js';
import type { LogRecord, TopWire } from '../../shared/protocol.js';
import { exactCounts, exactTop, zipfKeys as zipf } from '../support/zipf.js';


function summaryWire(keys: readonly string[], k: number): TopWire {
  const s = new SpaceSaving<null>(k, () => null, () => undefined);
  for (const key of keys) s.add(key);
  return { n: s.n, min: s.min(), e: s.top().map((c) => ({ k: c.key, c: c.count, e: c.err, f: 0, bs: 0, br: 0, bf: 0 })) };
}

/** Splits a stream over `parts` summaries round-robin (as the router without a hash field). */
function splitMerge(keys: readonly string[], parts: number, k: number): ReturnType<typeof mergeTop> {
  const shards: string[][] = Array.from({ length: parts }, () => []);
  keys.forEach((key, i) => shards[i % parts].push(key));
  return mergeTop(shards.map((s) => summaryWire(s, k)), k);
}

function assertWithinBounds(merged: ReturnType<typeof mergeTop>, exact: Map<string, number>): void {
  for (const e of merged.entries) {
    const truth = exact.get(e.key) ?? 0;
    assert.ok(e.count - e.bound <= truth && truth <= e.count, `${e.key}: exact ${truth} outside [${e.count - e.bound}, ${e.count}]`);
  }
  const listed = new Set(merged.entries.map((e) => e.key));
  for (const [key, truth] of exact) if (!listed.has(key)) assert.ok(truth <= merged.min, `${key} (${truth}) left out above the bound ${merged.min}`);
}

describe('Space-Saving summary', () => {
  test('fewer distinct keys than counters: every count exact, bound 0', () => {
    const keys = zipf(5000, 50, 1.1, 1);
    const w = summaryWire(keys, 100);
    const exact = exactCounts(keys);
    assert.equal(w.min, 0);
    for (const e of w.e) assert.deepEqual([e.c, e.e], [exact.get(e.k), 0], e.k);
  });
  test('property: one summary, any stream: count − err ≤ exact ≤ count, err ≤ N/k, untracked ≤ min', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 3000 }), fc.integer({ min: 1, max: 40 }), (xs, k) => {
        const keys = xs.map(String);
        const merged = mergeTop([summaryWire(keys, k)], k);
        assertWithinBounds(merged, exactCounts(keys));
        for (const e of merged.entries) assert.ok(e.bound <= keys.length / k, `bound ${e.bound} > N/k`);
      }),
      { numRuns: 200 },
    );
  });
  test('memory: k counters whatever the number of distinct keys', () => {
    const s = new SpaceSaving<null>(50, () => null, () => undefined);
    for (let i = 0; i < 100_000; i++) s.add(`k${i}`);
    assert.equal(s.size, 50);
  });
});

describe('merged summaries (mergeable Space-Saving)', () => {
  test('property: Zipf streams split over 4 summaries: merged top-20 = exact top-20, every count within its bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), fc.double({ min: 1, max: 1.5, noNaN: true }), (seed, s) => {
        const keys = zipf(40_000, 5_000, s, seed);
        const exact = exactCounts(keys);
        const merged = splitMerge(keys, 4, 200);
        assertWithinBounds(merged, exact);
        const want = exactTop(exact, 21).map((k) => exact.get(k)!);
        const widest = Math.max(...merged.entries.slice(0, 21).map((e) => e.bound));
        if (want[19] - want[20] > 2 * widest) {
          // Separated by more than the bounds: the merged top-20 must be the exact one.
          assert.deepEqual(new Set(merged.entries.slice(0, 20).map((e) => e.key)), new Set(exactTop(exact, 20)));
        }
        // Either way, every key listed is a top-20 key within the bounds.
        for (const e of merged.entries.slice(0, 20)) assert.ok(e.count - e.bound <= (exact.get(e.key) ?? 0) && exact.get(e.key)! >= want[19] - 2 * widest, `${e.key} is a top-20 key within the bounds`);
      }),
      { numRuns: 15 },
    );
  });
  test('property: the merge bounds hold for any split of any stream, unequal k and parts', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 800 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 2, max: 30 }), (shards, k) => {
        const merged = mergeTop(shards.map((s) => summaryWire(s.map(String), k)), k);
        assertWithinBounds(merged, exactCounts(shards.flat().map(String)));
        assert.equal(merged.n, shards.flat().length);
      }),
      { numRuns: 200 },
    );
  });
  test('1M records, 100k distinct URLs (Zipf 1.0), 4 summaries of 200: merged top-20 = exact top-20, within bounds', () => {
    const keys = zipf(1_000_000, 100_000, 1.0, 42);
    const exact = exactCounts(keys);
    const merged = splitMerge(keys, 4, 200);
    assertWithinBounds(merged, exact);
    assert.deepEqual(merged.entries.slice(0, 20).map((e) => e.key), exactTop(exact, 20));
    const top = merged.entries[0];
    assert.ok(top.bound < top.count / 100, `the top entry's bound ${top.bound} is small against its count ${top.count}`);
  });
});

describe('route templates learned from distinct values', () => {
  const urls = readFileSync(new URL('../../../examples/data/apache_logs', import.meta.url), 'utf8')
    .split('\n')
    .map((l) => /"[A-Z]+ (\S+)/.exec(l)?.[1])
    .filter((u): u is string => u !== undefined);
  test('the bundled demo log: the presentation images fold as a person would fold them', () => {
    const learner = new RouteLearner(topSchema.parse({}).fold_after);
    for (const u of urls) learner.template(u);
    const named = (u: string): string => learner.peek(learner.template(u));
    assert.equal(named('/presentations/logstash-puppetconf-2012/images/kibana-download.png'), '/presentations/:id/images/:id');
    assert.equal(named('/presentations/logstash-scale11x/images/ahhh___rage_face_by_samusmmx-d5g5zap.png'), '/presentations/:id/images/:id');
    assert.equal(named('/blog/tags/munin?flav=rss20'), '/blog/tags/:id', 'a rare tag is a value');
    assert.equal(named('/blog/tags/puppet'), '/blog/tags/puppet', 'a tag carrying its share of the folder stays itself');
    assert.equal(named('/images/web/2009/banner.png'), '/images/web/:id/banner.png');
    assert.equal(named('/favicon.ico'), '/favicon.ico', 'the first segment never folds');
  });
  test(`the bundled demo log through one replayer's summaries: the report's top routes leave under 5% in "other"`, () => {
    const settings = topSchema.parse({});
    const r = new TopRecorder(settings);
    urls.forEach((url, i) => {
      const rec = { ts: 0, src: 0, seq: i, method: 'GET', url };
      r.observe(rec, r.route(rec), 200, undefined, 1, 0, 0);
      if (i % 1000 === 999) r.snapshot(); // as the replayer does every second
    });
    const route = mergeTop([r.snapshot().route], settings.k);
    const listed = route.entries.slice(0, settings.show).reduce((s, e) => s + e.count, 0);
    const other = 1 - listed / route.n;
    assert.ok(other < 0.05, `other share ${(other * 100).toFixed(1)}% (${route.entries.length} templates)`);
    assert.equal(route.n, urls.length);
  });
  test('by_api named by the learned routes: the per-API cap of 200 names leaves under 5% in `other` (28% with the fixed rule)', () => {
    const learner = new RouteLearner(topSchema.parse({}).fold_after);
    const capped = (learned: boolean): number => {
      const namer = new ApiNamer(200);
      return urls.filter((u) => namer.name(u, learned ? learner.template(u) : undefined) === OTHER_API).length / urls.length;
    };
    assert.ok(capped(false) > 0.25, 'the fixed rule alone');
    assert.ok(capped(true) < 0.05, `learned: ${(capped(true) * 100).toFixed(1)}%`);
  });
  test('memory: the trie stays under its node cap on unbounded distinct paths', () => {
    const learner = new RouteLearner(1000, 500);
    for (let i = 0; i < 20_000; i++) learner.template(`/a${i % 3}/b${i}/c${i}`);
    assert.ok(learner.size <= 501, `nodes ${learner.size}`);
  });
});

describe('TopRecorder: a replayer\'s dimensions', () => {
  const rec = (url: string, over: Partial<LogRecord> = {}): LogRecord => ({ ts: 0, src: 0, seq: 0, method: 'GET', url, ...over });
  const observe = (r: TopRecorder, x: LogRecord, status: number, error: string | undefined, ms: number, sent: number, received: number): void => r.observe(x, r.route(x), status, error, ms, sent, received);
  test('every dimension counts requests, failures and bytes; the largest get histograms', () => {
    const r = new TopRecorder(topSchema.parse({ k: 10, histograms: 1 }));
    r.snapshot(); // nothing yet: histograms are handed out from the first snapshot on
    for (let i = 0; i < 30; i++) observe(r, rec(`http://API.example.com/items/${i % 3}?x=${i}`, { key: `user${i % 2}` }), i % 3 === 0 ? 500 : 200, undefined, 5, 10, 100);
    observe(r, rec('/items/7'), 0, 'timeout', 5000, 0, 0);
    r.snapshot();
    for (let i = 0; i < 10; i++) observe(r, rec('/items/1'), 200, undefined, 7, 0, 0);
    const w = r.snapshot();
    assert.deepEqual(w.route.e.map((e) => [e.k, e.c, e.f]), [['/items/:id', 41, 11]]);
    assert.equal(w.route.e[0].bs, 300);
    assert.equal(w.route.e[0].bf, 10 * 110);
    assert.equal(percentilesMs(mergeTop([w.route], 10).entries[0].latency!).count, 10, 'the histogram counts from when the entry became one of the largest');
    assert.deepEqual(w.url.e.map((e) => [e.k, e.c]), [['/items/1', 20], ['/items/0', 10], ['/items/2', 10], ['/items/7', 1]]);
    assert.deepEqual(w.host.e.map((e) => [e.k, e.c]), [['api.example.com', 30], ['-', 11]]);
    assert.deepEqual(w.status.e.map((e) => [e.k, e.c]), [['200', 30], ['500', 10], ['timeout', 1]]);
    assert.deepEqual(w.key.e.map((e) => [e.k, e.c]), [['user0', 15], ['user1', 15]]);
  });
  test('memory: 200k distinct URLs, hosts and keys leave k counters per dimension, whatever was seen', () => {
    const settings = topSchema.parse({ k: 50, histograms: 5 });
    const r = new TopRecorder(settings);
    for (let i = 0; i < 200_000; i++) {
      observe(r, rec(`http://h${i}.example/u${i}/v${i}/w${i}`, { key: `k${i}` }), 200, undefined, 1, 0, 0);
      if (i % 20_000 === 0) r.snapshot();
    }
    const w = r.snapshot();
    for (const dim of settings.dimensions) assert.ok(w[dim].e.length <= 50, `${dim}: ${w[dim].e.length} counters`);
    assert.ok(Object.values(w).flatMap((d) => d.e).filter((e) => e.h).length <= 3 * 5, 'histograms: the largest few of route, url and host');
    assert.equal(w.url.n, 200_000);
  });
  test('urlPath and hostOf', () => {
    assert.equal(urlPath('http://h:8/a/b?x=1#f'), '/a/b');
    assert.equal(urlPath('/a?b'), '/a');
    assert.equal(urlPath('http://h'), '/');
    assert.equal(hostOf(rec('/x', { headers: { Host: 'web' } })), 'web');
    assert.equal(hostOf(rec('https://u:p@Shop.example:443/x')), 'shop.example:443');
  });
});
