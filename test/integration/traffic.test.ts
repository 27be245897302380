/**
 * The traffic store against a real nats-server: lines put into HAVOK_TRAFFIC in the gateway's
 * format (test/support/traffic.ts), indexed by trace id, then queried through the API, the
 * `havok traffic` CLI and the HTTP handler — each answer checked against a brute-force filter
 * of the input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { apiTemplate } from '../../shared/api-name.js';
import { compileFilter, parseFilter, type CompiledFilter } from '../../services/traffic/filter.js';
import { traceIdOf } from '../../services/traffic/line.js';
import { queryTraffic, showRecord, RecordNotFoundError, type QueryOptions, type TrafficRecord } from '../../services/traffic/query.js';
import { trafficStats } from '../../services/traffic/stats.js';
import { ensureTraceIndex, INDEX_FORMAT, readWatermark, runTraceIndexer } from '../../services/traffic/trace-index.js';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { purgeRepoByAge } from '../../services/traffic/retention.js';
import { trafficRoutes } from '../../services/traffic/http.js';
import { check } from '../support/check.js';
import { havokFixture, type HavokFixture } from '../support/fixture.js';
import { createTrafficStream, publishTraffic, publishTrafficFast, storedId, type StoredTraffic, type TrafficStreamHandle } from '../support/traffic.js';
import { traceOf, trafficLines } from '../support/traffic-lines.js';

const N = Number(process.env.HAVOK_TRAFFIC_TEST_LINES ?? 200_000);
const silent = pino({ level: 'silent' });

describe('traffic store', { timeout: 240_000 }, () => {
  let fx: HavokFixture;
  let nc: NatsConnection;
  let ts: TrafficStreamHandle;
  let stored: StoredTraffic[];
  const client = (): TrafficStreamHandle & { nc: NatsConnection } => ({ ...ts, nc });
  const compile = (raw: Record<string, unknown>): CompiledFilter => compileFilter(parseFilter(raw, { now: Date.now() }));
  /** The brute-force answer: every stored line the compiled predicate selects, oldest first. */
  const expected = (f: CompiledFilter): StoredTraffic[] => stored.filter((s) => f.matches(s.line, s.repo));
  /** Every page of a query, following cursors. */
  const allPages = async (f: CompiledFilter, opts: QueryOptions): Promise<TrafficRecord[]> => {
    const out: TrafficRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const r = await queryTraffic(client(), f, { ...opts, ...(cursor ? { cursor } : {}) });
      out.push(...r.records);
      if (!r.cursor) return out;
      cursor = r.cursor;
    }
    throw new Error('too many pages');
  };

  before(async () => {
    fx = await havokFixture();
    nc = await fx.connect();
    ts = await createTrafficStream(nc);
    stored = await publishTrafficFast(nc, ts, trafficLines(N, { seed: 17 }));
    const stats = await runTraceIndexer({ nc, js: ts.js, jsm: ts.jsm, log: silent, untilCaughtUp: true });
    assert.equal(stats.watermark, stored[stored.length - 1]!.seq);
  });
  after(async () => fx[Symbol.asyncDispose]());

  test('--trace-id returns exactly the lines carrying it (through the index), newest first', async () => {
    for (const k of [0, 7, 1234 % Math.max(1, Math.floor(N / 20))]) {
      const id = traceOf(k);
      const want = stored.filter((s) => traceIdOf(s.line) === id).map(storedId);
      assert.ok(want.length > 0, `trace ${id} has lines in the input`);
      const r = await queryTraffic(client(), compile({ trace_id: id }), { limit: 10_000 });
      assert.deepEqual(r.records.map((x) => x.id), [...want].reverse());
      assert.deepEqual(r.index, { watermark: stored[stored.length - 1]!.seq, last_seq: stored[stored.length - 1]!.seq, current: true });
      assert.ok(r.scanned <= want.length, `index lookup read ${r.scanned} records for ${want.length} matches`);
      assert.deepEqual(r.expired, []);
    }
  });

  test('repo + method + path glob + since/until returns exactly the brute-force selection', async () => {
    const from = stored[Math.floor(N * 0.3)]!.line.received_ms as number;
    const to = stored[Math.floor(N * 0.6)]!.line.received_ms as number;
    const f = compile({ repo: 'shop', method: 'POST', path: '/api/orders*', since: String(from), until: String(to) });
    const want = expected(f).map(storedId);
    assert.ok(want.length > 100, `selection holds ${want.length} lines`);
    const oldest = await allPages(f, { order: 'oldest', limit: 997 });
    assert.deepEqual(oldest.map((r) => r.id), want);
    const newest = await allPages(f, { order: 'newest', limit: 1500 });
    assert.deepEqual(newest.map((r) => r.id), [...want].reverse());
    const first = oldest[0]!;
    assert.equal(first.repo, 'shop');
    assert.equal(first.method, 'POST');
    assert.match(first.url, /^\/api\/orders[^/]*$/);
  });

  test('status class, route template and a field regex, oldest first', async () => {
    const f = compile({ repo: 'search', status: '5xx', route: '/api/users/:id/cart', 'field.user': '/^u4\\d$/' });
    const want = expected(f).map(storedId);
    assert.ok(want.length > 0);
    assert.deepEqual((await allPages(f, { order: 'oldest', limit: 5000 })).map((r) => r.id), want);
  });

  test('a scan budget that ends the scan is reported, with a cursor to go on from', async () => {
    const f = compile({ repo: 'auth' });
    const r = await queryTraffic(client(), f, { order: 'oldest', limit: 1_000_000, scanBudget: 1000 });
    assert.equal(r.budget_hit, true);
    assert.equal(r.scanned, 1000);
    assert.equal(r.records.length, 1000);
    assert.ok(r.cursor);
    const next = await queryTraffic(client(), f, { order: 'oldest', limit: 10, cursor: r.cursor });
    assert.equal(next.records[0]!.id, storedId(expected(f)[1000]!));
    const newest = await queryTraffic(client(), compile({ status: '404' }), { limit: 1_000_000, scanBudget: 5000 });
    assert.equal(newest.budget_hit, true);
    assert.ok(newest.scanned <= 5000);
  });

  test('stats totals equal the input\'s', async () => {
    const s = await trafficStats(client(), compile({}));
    assert.equal(s.total, N);
    assert.equal(s.budget_hit, false);
    const count = (key: (x: StoredTraffic) => string): Record<string, number> => {
      const m: Record<string, number> = {};
      for (const x of stored) m[key(x)] = (m[key(x)] ?? 0) + 1;
      return m;
    };
    assert.deepEqual(s.by_repo, count((x) => x.repo));
    assert.deepEqual(s.by_method, count((x) => String(x.line.method)));
    assert.deepEqual(s.by_status, count((x) => String(x.line.status)));
    assert.deepEqual(s.by_route, count((x) => apiTemplate(String(x.line.url))));
  });

  test('show returns one record whole; a missing one is an error', async () => {
    const s = stored[42]!;
    const shown = await showRecord(ts, s.seq, s.index);
    assert.equal(shown.repo, s.repo);
    assert.equal(shown.id, storedId(s));
    assert.deepEqual(shown.line, s.line);
    // A line inside a message of several: the stored lines are packed as the gateway packs them.
    const inner = stored.find((x) => x.index > 0)!;
    assert.ok(inner, 'some messages hold several lines');
    assert.deepEqual((await showRecord(ts, inner.seq, inner.index)).line, inner.line);
    await assert.rejects(showRecord(ts, inner.seq, 5000), RecordNotFoundError);
    await assert.rejects(showRecord(ts, stored[stored.length - 1]!.seq + 10), RecordNotFoundError);
  });

  test('GET /traffic and /traffic/{id} on a plain node:http server', async () => {
    const routes = trafficRoutes(client());
    const server: Server = createServer((req, res) => void routes.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    fx.defer(() => new Promise<void>((r) => server.close(() => r())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const f = compile({ repo: 'media', method: 'DELETE' });
    const want = expected(f).map(storedId).reverse();
    const got: string[] = [];
    let url = `${base}/traffic?repo=media&method=DELETE&limit=2000`;
    for (;;) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { records: TrafficRecord[]; next?: string };
      got.push(...body.records.map((r) => r.id));
      if (!body.next) break;
      url = base + body.next;
    }
    assert.deepEqual(got, want);
    const one = await fetch(`${base}/traffic/${want[0]}`);
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as { id: string }).id, want[0]);
    assert.equal((await fetch(`${base}/traffic/${want[0]}x`)).status, 400);
    const bad = await fetch(`${base}/traffic?colour=red`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /colour/);
    assert.equal((await fetch(`${base}/traffic/999999999`)).status, 404);
    for (const q of ['order=sideways', 'limit=0', 'cursor=o5', 'since=soon']) {
      const r = await routes.list(`/traffic?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal((r.body as { key: string }).key, q.split('=')[0], q);
    }
  });

  test('havok traffic query as a process: --trace-id, --json lines; a bad glob exits 2 naming --path', async () => {
    const id = traceOf(3);
    const want = stored.filter((s) => traceIdOf(s.line) === id).map(storedId);
    const r = await fx.run(['traffic', 'query', '--nats', fx.nats.url, '--trace-id', id, '--oldest', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TrafficRecord);
    assert.deepEqual(lines.map((l) => l.id), want);
    const bad = await fx.run(['traffic', 'query', '--nats', fx.nats.url, '--path', '/a/[b']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--path/);
    const human = await fx.run(['traffic', 'query', '--nats', fx.nats.url, '--repo', 'shop', '--limit', '3']);
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stdout.trim().split('\n').length, 3);
    assert.match(human.stdout, /shop/);
    assert.match(human.stderr, /--cursor n\d+(:\d+)?/, 'the next page is announced');
    const stats = await fx.run(['traffic', 'stats', '--nats', fx.nats.url, '--repo', 'media', '--method', 'DELETE', '--json']);
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal((JSON.parse(stats.stdout) as { total: number }).total, expected(compile({ repo: 'media', method: 'DELETE' })).length);
    const unknown = await fx.run(['traffic', 'show', '--nats', fx.nats.url, String(stored[stored.length - 1]!.seq + 5)]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no record/);
  });
});

describe('trace index: aged-out records are reported as expired', { timeout: 60_000 }, () => {
  test('an index entry whose record is gone is expired, not an error', async () => {
    await using fx = await havokFixture();
    const nc = await fx.connect();
    const ts = await createTrafficStream(nc, { stream: 'TRAFFIC_EXP' });
    const lines = [0, 1, 2, 3].map((i) => ({ repo: 'shop', line: { ts: i, method: 'GET', url: `/x/${i}`, trace_id: 'gone-soon' } }));
    const put = await publishTraffic(ts.js, lines);
    await runTraceIndexer({ nc, js: ts.js, jsm: ts.jsm, stream: 'TRAFFIC_EXP', log: silent, untilCaughtUp: true });
    // Age the first two out, as the stream's limits would.
    await ts.jsm.streams.purge('TRAFFIC_EXP', { seq: put[2]!.seq });
    const r = await queryTraffic(ts, compileFilter(parseFilter({ trace_id: 'gone-soon' }, { now: Date.now() })), { order: 'oldest' });
    assert.deepEqual(r.records.map((x) => x.id), [storedId(put[2]!), storedId(put[3]!)]);
    assert.deepEqual(r.expired, [storedId(put[0]!), storedId(put[1]!)]);
    await assert.rejects(showRecord(ts, put[0]!.seq), (e: unknown) => e instanceof RecordNotFoundError && e.expired);
    // Lines the indexer has not reached yet are found by scanning the tail past its watermark.
    const later = await publishTraffic(ts.js, [{ repo: 'auth', line: { ts: 9, method: 'POST', url: '/y', traceparent: '00-0000000000000000000000000000abcd-00f067aa0ba902b7-01', trace_id: 'gone-soon' } }]);
    const lagging = await queryTraffic(ts, compileFilter(parseFilter({ trace_id: 'gone-soon' }, { now: Date.now() })), { order: 'oldest' });
    assert.deepEqual(lagging.records.map((x) => x.id), [storedId(put[2]!), storedId(put[3]!), storedId(later[0]!)]);
    assert.deepEqual(lagging.index, { watermark: put[3]!.seq, last_seq: later[0]!.seq, current: false });
  });
});

describe('trace index: one of an earlier layout is rebuilt', { timeout: 60_000 }, () => {
  test('a watermark without the current format makes the indexer start over, and lookups find every line', async () => {
    await using fx = await havokFixture();
    const nc = await fx.connect();
    const ts = await createTrafficStream(nc, { stream: 'TRAFFIC_OLD' });
    const put = await publishTraffic(ts.js, [0, 1, 2].map((i) => ({ repo: 'shop', line: { ts: i, method: 'GET', url: `/x/${i}`, trace_id: 'kept' } })));
    // What an earlier build left: one subject per trace, a watermark with no format, its consumer done.
    const index = await ensureTraceIndex(ts.jsm, 'TRAFFIC_OLD');
    await ts.js.publish('havok.traces.TRAFFIC_OLD.id.kept', put.map((p) => p.seq).join(','));
    await ts.js.publish('havok.traces.TRAFFIC_OLD.watermark', JSON.stringify({ seq: put[2]!.seq, at_ms: Date.now() }));
    await ts.jsm.consumers.add('TRAFFIC_OLD', { durable_name: 'TRAFFIC_OLD_trace_indexer', ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.New });
    const stats = await runTraceIndexer({ nc, js: ts.js, jsm: ts.jsm, stream: 'TRAFFIC_OLD', log: silent, untilCaughtUp: true });
    assert.equal(stats.read, 3, 'indexed again from the start');
    assert.equal((await readWatermark({ ...ts, stream: 'TRAFFIC_OLD' }))?.format, INDEX_FORMAT);
    const subjects = Object.keys((await ts.jsm.streams.info(index, { subjects_filter: '>' })).state.subjects ?? {});
    assert.deepEqual(subjects.filter((x) => x.includes('.id.')), [], 'the old entries are gone');
    const r = await queryTraffic(ts, compileFilter(parseFilter({ trace_id: 'kept' }, { now: Date.now() })), { order: 'oldest' });
    assert.deepEqual(r.records.map((x) => x.id), put.map(storedId));
    assert.equal(r.scanned, 3);
    assert.equal(r.index?.current, true);
  });
});

describe('retention per repo on the shared stream', { timeout: 60_000 }, () => {
  test('purging a repo by age leaves the other repos whole', async () => {
    await using fx = await havokFixture();
    const nc = await fx.connect();
    const ts = await createTrafficStream(nc, { stream: 'TRAFFIC_RET' });
    const line = (i: number) => ({ ts: i, method: 'GET', url: `/x/${i}` });
    const old = await publishTraffic(ts.js, [0, 1, 2].flatMap((i) => [{ repo: 'shop', line: line(i) }, { repo: 'auth', line: line(i) }]));
    const cutAt = Date.now() + 1;
    await check(async () => Date.now() > cutAt + 5, 1000, 'the clock to pass the cut');
    const recent = await publishTraffic(ts.js, [{ repo: 'shop', line: line(9) }]);
    assert.equal(await purgeRepoByAge(ts, 'shop', Date.now() - cutAt, Date.now()), 3);
    const left = await queryTraffic(ts, compileFilter(parseFilter({}, { now: Date.now() })), { order: 'oldest' });
    assert.deepEqual(left.records.map((r) => r.id), [...old.filter((s) => s.repo === 'auth').map(storedId), storedId(recent[0]!)]);
    // A repo with nothing recent loses everything; the others keep theirs.
    assert.equal(await purgeRepoByAge(ts, 'auth', 1, Date.now() + 60_000), 3);
    assert.equal(await purgeRepoByAge(ts, 'shop', 0, Date.now()), 0);
  });
});
