/**
 * `havok plan` of a `[fetcher.jetstream] filter` job against a real nats-server holding a known
 * set of lines: the selection's count, time range and counts by method, status and route equal a
 * brute-force count of the input, before anything is sent; a scan budget that ends the count is
 * reported (and the replay is then not read).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { apiTemplate } from '../../shared/api-name.js';
import type { PlanResult } from '../../services/plan/plan.js';
import { havokFixture } from '../support/fixture.js';
import { createTrafficStream, publishTraffic, type StoredTraffic } from '../support/traffic.js';
import { trafficLines } from '../support/traffic-lines.js';

const count = (xs: string[]): Record<string, number> => {
  const m: Record<string, number> = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
};

describe('havok plan of a jetstream selection', { timeout: 120_000 }, () => {
  test('counts, time range and counts by method, status and route equal a brute-force count; nothing is sent', async () => {
    await using fx = await havokFixture({ target: true });
    const nc = await fx.connect();
    await createTrafficStream(nc);
    const stored: StoredTraffic[] = await publishTraffic(jetstream(nc), trafficLines(4000, { seed: 23 }));
    const filter = '{ method = "POST", path = "/api/orders*", status = "5xx" }';
    const job = fx.job({ job: 'planned', lines: [], fetcher_toml: 'type = "jetstream"', extra: `[fetcher.jetstream]\nrepo = "shop"\nfilter = ${filter}` });
    const res = await fx.run(['plan', '--config', job.config, '--json']);
    assert.equal(res.code, 0, res.stderr);
    const p = JSON.parse(res.stdout) as PlanResult;
    // Brute force over the input: shop, POST, a path matching /api/orders* (a glob's `*` stays
    // within one segment), a 5xx status.
    const want = stored.filter(({ repo, line }) => repo === 'shop' && line.method === 'POST' && /^\/api\/orders[^/]*$/.test(String(line.url).split('?')[0]!) && Number(line.status) >= 500 && Number(line.status) < 600);
    assert.ok(want.length > 10, `the selection holds ${want.length} lines`);
    const sel = p.selection!;
    assert.equal(sel.total, want.length);
    assert.equal(sel.budget_hit, false);
    assert.deepEqual(sel.by_repo, { shop: want.length });
    assert.deepEqual(sel.by_method, { POST: want.length });
    assert.deepEqual(sel.by_status, count(want.map((s) => String(s.line.status))));
    assert.deepEqual(sel.by_route, count(want.map((s) => apiTemplate(String(s.line.url)))));
    const times = want.map((s) => s.line.received_ms as number);
    assert.deepEqual([sel.first_ms, sel.last_ms], [Math.min(...times), Math.max(...times)]);
    assert.deepEqual(sel.filter, { repo: 'shop', method: 'POST', path: '/api/orders*', status: '5xx' });
    // The replay's own read agrees with the selection, and nothing was sent.
    assert.equal(p.records, want.length);
    assert.equal(p.replay_skipped, undefined);
    assert.equal(fx.target.requests.length, 0);

    const human = await fx.run(['plan', '--config', job.config]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`selection  HAVOK_TRAFFIC, filter .*\\n\\s+total ${want.length} \\(scanned \\d+\\)`));
    assert.match(human.stdout, new RegExp(`\\s${want.length}  POST`));
  });

  test('a scan budget that ends the count is reported, and the replay is not read', async () => {
    await using fx = await havokFixture({ target: true });
    const nc = await fx.connect();
    await createTrafficStream(nc);
    const stored = await publishTraffic(jetstream(nc), trafficLines(3000, { seed: 5 }));
    const shop = stored.filter((s) => s.repo === 'shop');
    const job = fx.job({ job: 'budget', lines: [], fetcher_toml: 'type = "jetstream"', extra: '[fetcher.jetstream]\nrepo = "shop"' });
    const res = await fx.run(['plan', '--config', job.config, '--json', '--scan-budget', '200']);
    assert.equal(res.code, 0, res.stderr);
    const p = JSON.parse(res.stdout) as PlanResult;
    assert.equal(p.selection!.budget_hit, true);
    assert.equal(p.selection!.scanned, 200);
    // The repo's subject narrows in the server: the first 200 records read are shop's first 200.
    assert.equal(p.selection!.total, 200);
    assert.equal(p.selection!.first_ms, Math.min(...shop.slice(0, 200).map((s) => s.line.received_ms as number)));
    assert.match(p.replay_skipped!, /scan budget \(200 records/);
    assert.equal(p.read, 0);
    const human = await fx.run(['plan', '--config', job.config, '--scan-budget', '200']);
    assert.match(human.stdout, /WARNING: the scan budget \(200 records\) ended the count/);
    assert.match(human.stdout, /replay     not read/);
    // Within the budget, the whole repo is counted and the replay read.
    const all = JSON.parse((await fx.run(['plan', '--config', job.config, '--json'])).stdout) as PlanResult;
    assert.deepEqual([all.selection!.total, all.selection!.budget_hit, all.records], [shop.length, false, shop.length]);
    const bad = await fx.run(['plan', '--config', job.config, '--scan-budget', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--scan-budget/);
  });
});
