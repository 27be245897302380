import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Difference, DiffKind } from '../../services/diff/compare.js';
import { DiffCounters, EXAMPLE_CHARS_PER_MESSAGE, OTHER_FIELD } from '../../services/diff/counters.js';
import { buildDiffReport, diffExitCode, formatDiffSummary } from '../../services/diff/report.js';
import { joinDiff, underPrefix } from '../../services/diff/join.js';
import { addEndpoints, DiffMerger } from '../../services/diff/merge.js';
import { compareRecord, comparerOptions, type TargetOutcome } from '../../services/diff/record.js';
import { diffSchema } from '../../services/diff/settings.js';
import type { DiffEndpointStats, DiffExample } from '../../shared/protocol.js';

const settings = diffSchema.parse({ primary: 'http://p', candidate: 'http://c', secondary: 'http://s' });
const noExamples = (): DiffExample[] => [];
const exampleOf = (d: Difference): DiffExample => ({ endpoint: '', path: d.path, kind: d.kind, at: d.at, src: 0, seq: 0, request: { method: 'GET', url: '/' }, responses: {}, values: {} });

const ep = (total: number, fields: Record<string, [number, number]>): DiffEndpointStats => ({
  total,
  skipped: {},
  fields: Object.fromEntries(Object.entries(fields).map(([k, [raw, noise]]) => { const [path, kind] = k.split(' '); return [path, { [kind]: { raw, noise } }]; })),
});

describe('joinDiff', () => {
  test('raw above noise past both thresholds is different; equal raw and noise is noise', () => {
    const r = joinDiff({ '/items/:id': ep(1000, { 'body.price primitive': [300, 0], 'body.ts primitive': [1000, 1000], 'body.x primitive': [110, 100] }) }, settings, noExamples);
    assert.equal(r.critical, 1);
    const e = r.endpoints[0];
    assert.deepEqual(e.fields.map((f) => [f.path, f.raw, f.noise, f.relative, f.absolute]), [['body.price', 300, 0, 1, 0.3]]);
    // body.x: relative 10/210 < 20%.
    assert.deepEqual(e.noise_fields.map((f) => f.path), ['body.ts', 'body.x']);
  });

  const thresholdCases: Array<[string, number, number, number, boolean]> = [
    ['relative exactly at 20%', 100, 60, 40, true],
    ['relative just under 20%', 100, 59, 41, false],
    ['absolute under 0.03% of the endpoint', 100_000, 20, 0, false],
    ['absolute at 0.03%', 100_000, 30, 0, true],
    ['raw below noise is never different', 100, 10, 50, false],
  ];
  for (const [name, total, raw, noise, want] of thresholdCases) {
    test(name, () => assert.equal(joinDiff({ e: ep(total, { 'body.a primitive': [raw, noise] }) }, settings, noExamples).critical, want ? 1 : 0));
  }

  test('user rules mark a prefix as noise for their endpoint (or every endpoint with "*")', () => {
    const s = { ...settings, ignore: { '/a': ['body.meta'], '*': ['headers.x-debug'] } };
    const r = joinDiff({ '/a': ep(10, { 'body.meta.at primitive': [10, 0], 'headers.x-debug missing': [10, 0] }), '/b': ep(10, { 'body.meta.at primitive': [10, 0] }) }, s, noExamples);
    assert.equal(r.critical, 1);
    assert.deepEqual(r.endpoints.map((e) => [e.endpoint, e.different]), [['/b', 1], ['/a', 0]]);
    assert.ok(r.endpoints[1].noise_fields.every((f) => f.ignored));
  });

  test('underPrefix matches whole path segments', () => {
    assert.deepEqual(['body.a', 'body.a.b', 'body.a[*]', 'body.ab', 'body'].map((p) => underPrefix(p, 'body.a')), [true, true, true, false, false]);
  });
});

/** A random record outcome: which fields differ raw and as noise. */
const observation = fc.record({
  endpoint: fc.constantFrom('/a', '/b/:id', '/c'),
  raw: fc.array(fc.record({ path: fc.constantFrom('status', 'body.x', 'body.items[*].p'), kind: fc.constantFrom<DiffKind>('primitive', 'missing') }), { maxLength: 4 }),
  noise: fc.array(fc.record({ path: fc.constantFrom('body.ts', 'body.x'), kind: fc.constantFrom<DiffKind>('primitive') }), { maxLength: 2 }),
  skip: fc.option(fc.constantFrom('candidate_error', 'secondary_error'), { nil: undefined }),
});
type Observation = typeof observation extends fc.Arbitrary<infer T> ? T : never;

function feed(c: DiffCounters, obs: readonly Observation[]): void {
  for (const o of obs) {
    if (o.skip) c.skipped(o.endpoint, o.skip);
    else c.compared(o.endpoint, o.raw.map((d) => ({ ...d, at: d.path })), o.noise.map((d) => ({ ...d, at: d.path })), exampleOf);
  }
}

describe('DiffCounters and DiffMerger', () => {
  test('property: merging per-replayer counters gives the counters of the whole', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(observation, fc.integer({ min: 0, max: 2 })), { maxLength: 60 }), (items) => {
        const whole = new DiffCounters(2);
        feed(whole, items.map(([o]) => o));
        const merger = new DiffMerger(2);
        for (let r = 0; r < 3; r++) {
          const part = new DiffCounters(2);
          feed(part, items.filter(([, who]) => who === r).map(([o]) => o));
          merger.add(`r${r}@boot`, { ...part.snapshot(), targets: {} });
        }
        assert.deepEqual(merger.totals().endpoints, whole.snapshot().endpoints);
      }),
    );
  });

  test('a field counts once per record however many elements differ; examples stop at the limit', () => {
    const c = new DiffCounters(2);
    const d = (at: string): Difference => ({ path: 'body.items[*].p', at, kind: 'primitive' });
    for (let i = 0; i < 5; i++) c.compared('/a', [d('body.items[0].p'), d('body.items[1].p')], [], exampleOf);
    const s = c.snapshot();
    assert.deepEqual(s.endpoints['/a'], { total: 5, skipped: {}, fields: { 'body.items[*].p': { primitive: { raw: 5, noise: 0 } } } });
    assert.equal(s.examples.length, 2);
    assert.equal(c.snapshot().examples.length, 0, 'examples go out once');
  });

  test('the merger keeps the latest cumulative counts per life and the first examples', () => {
    const m = new DiffMerger(1);
    const c = new DiffCounters(5);
    c.compared('/a', [{ path: 'status', at: 'status', kind: 'primitive' }], [], exampleOf);
    m.add('r@1', { ...c.snapshot(), targets: {} });
    c.compared('/a', [{ path: 'status', at: 'status', kind: 'primitive' }], [], exampleOf);
    m.add('r@1', { ...c.snapshot(), targets: {} });
    assert.equal(m.totals().endpoints['/a'].fields.status.primitive.raw, 2);
    assert.equal(m.examplesOf('/a', 'status', 'primitive').length, 1);
  });

  test('examples go out in messages of bounded size, none lost between them', () => {
    const c = new DiffCounters(100);
    const big = (d: Difference): DiffExample => ({ ...exampleOf(d), responses: { primary: { status: 200, headers: {}, body: 'x'.repeat(EXAMPLE_CHARS_PER_MESSAGE / 4) } } });
    for (let i = 0; i < 10; i++) c.compared('/a', [{ path: `body.f${i}`, at: `body.f${i}`, kind: 'primitive' }], [], big);
    const sizes = [c.snapshot(), c.snapshot(), c.snapshot(), c.snapshot()].map((s) => s.examples.length);
    assert.deepEqual(sizes, [4, 4, 2, 0]);
  });

  test('field paths beyond the cap fold into "other"; the counts are kept', () => {
    const c = new DiffCounters(0);
    const diffs = Array.from({ length: 300 }, (_, i): Difference => ({ path: `body.k${i}`, at: `body.k${i}`, kind: 'extra' }));
    c.compared('/a', diffs, [], exampleOf);
    const fields = c.snapshot().endpoints['/a'].fields;
    assert.equal(Object.keys(fields).length, 257);
    assert.deepEqual(fields[OTHER_FIELD], { extra: { raw: 1, noise: 0 } }, 'counted once per record, as any field');
  });

  test('addEndpoints sums skipped reasons', () => {
    const into: Record<string, DiffEndpointStats> = {};
    addEndpoints(into, { '/a': { total: 1, skipped: { x: 1 }, fields: {} } });
    addEndpoints(into, { '/a': { total: 2, skipped: { x: 2, y: 1 }, fields: {} } });
    assert.deepEqual(into['/a'], { total: 3, skipped: { x: 3, y: 1 }, fields: {} });
  });
});

describe('buildDiffReport, summary and exit code', () => {
  const merger = (): DiffMerger => {
    const m = new DiffMerger();
    const c = new DiffCounters(5);
    for (let i = 0; i < 10; i++) c.compared('/a', i < 3 ? [{ path: 'body.x', at: 'body.x', kind: 'primitive' }] : [], [], exampleOf);
    c.skipped('/a', 'candidate_error');
    m.add('r@1', { ...c.snapshot(), targets: {}, compare_ms: 1500 });
    return m;
  };

  test('the section: critical, compared, skipped, fields with examples; exit 3 only with fail_on_difference', () => {
    const r = buildDiffReport(merger(), settings);
    assert.deepEqual([r.critical, r.compared, r.skipped, r.compare_cpu_s], [1, 10, { candidate_error: 1 }, 1.5]);
    assert.deepEqual(r.endpoints[0].fields.map((f) => [f.path, f.raw, f.absolute, f.examples.length]), [['body.x', 3, 0.3, 3]]);
    assert.equal(diffExitCode(r, settings), 0);
    assert.equal(diffExitCode(r, { ...settings, fail_on_difference: true }), 3);
    assert.equal(diffExitCode({ ...r, critical: 0 }, { ...settings, fail_on_difference: true }), 0);
    assert.equal(diffExitCode(undefined, undefined), 0);
  });

  test('the console lines name each different field with its counts', () => {
    const text = formatDiffSummary(buildDiffReport(merger(), settings));
    assert.match(text, /compared 10 {2}skipped 1 \(candidate_error:1\) {2}different fields 1/);
    assert.match(text, /DIFFERENT \/a body\.x primitive: 3\/10 records \(noise 0, relative 100\.0%, absolute 30\.0%\)/);
  });
});

describe('compareRecord', () => {
  const opts = comparerOptions(settings);
  const ok = (body: unknown, headers: Array<[string, string]> = []): TargetOutcome => ({
    response: { status: 200, headers: [['content-type', 'application/json'], ...headers], body: Buffer.from(JSON.stringify(body)), cut: false },
  });
  const rec = { method: 'GET', url: '/items/7', headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, src: 0, seq: 42 };

  test('raw is primary vs candidate, noise primary vs secondary; the example carries the three values', () => {
    const c = new DiffCounters(5);
    compareRecord(rec, { primary: ok({ ts: 1, price: 10 }), candidate: ok({ ts: 2, price: 11 }), secondary: ok({ ts: 3, price: 10 }) }, opts, c);
    const s = c.snapshot();
    assert.deepEqual(s.endpoints['/items/:id'].fields, { 'body.ts': { primitive: { raw: 1, noise: 1 } }, 'body.price': { primitive: { raw: 1, noise: 0 } } });
    const ex = s.examples.find((e) => e.path === 'body.price')!;
    assert.deepEqual(ex.values, { primary: '10', candidate: '11', secondary: '10' });
    assert.deepEqual([ex.endpoint, ex.seq, ex.trace_id], ['/items/:id', 42, '4bf92f3577b34da6a3ce929d0e0e4736']);
    assert.match(ex.responses.candidate.body, /"price": 11/);
  });

  test('a target that failed: the record is skipped with the reason, the rest are still counted', () => {
    const c = new DiffCounters(5);
    compareRecord(rec, { primary: ok({}), candidate: { error: 'connection_refused' }, secondary: ok({}) }, opts, c);
    assert.deepEqual(c.snapshot().endpoints['/items/:id'], { total: 0, skipped: { candidate_error: 1 }, fields: {} });
  });

  test('odd bodies are counted per target', () => {
    const c = new DiffCounters(5);
    const bad: TargetOutcome = { response: { status: 200, headers: [['content-type', 'application/json']], body: Buffer.from('<html>'), cut: false } };
    compareRecord(rec, { primary: ok({}), candidate: bad, secondary: ok({}) }, opts, c);
    assert.deepEqual(c.snapshot().bodies, { candidate: { not_json: 1 } });
  });
});
