import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { traceSchema, type TraceSettings } from '../../shared/trace/settings.js';
import { compileTracer, originalContext, parseTraceValue, type Tracer } from '../../shared/trace/propagate.js';
import { IdPool } from '../../shared/trace/ids.js';
import type { LogRecord } from '../../shared/protocol.js';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

const rec = (over: Partial<LogRecord> = {}): LogRecord => ({ ts: 0, src: 0, seq: 0, method: 'GET', url: '/', ...over });
const settings = (over: Partial<TraceSettings>): TraceSettings => traceSchema.parse(over);
const tracer = (over: Partial<TraceSettings>): Tracer => {
  const t = compileTracer(settings(over), 'job1');
  assert.ok(t, 'a tracer for these settings');
  return t;
};
function headersOf(t: Tracer, r = rec()): { headers: Record<string, string>; sent: string } {
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  const sent = t.apply(r, headers);
  return { headers, sent };
}

const W3C = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(01|00)$/;
const B3 = /^([0-9a-f]{32})-([0-9a-f]{16})-([01])(-[0-9a-f]{16})?$/;
const JAEGER = /^([0-9a-f]{32}):([0-9a-f]{16}):([0-9a-f]{1,16}):([01])$/;
const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

describe('trace propagation: header formats', () => {
  test('off and no templates: no tracer at all (a replay adds no header unless asked)', () => {
    assert.equal(compileTracer(settings({}), 'j'), undefined);
  });
  test('w3c: traceparent 00-<32 hex>-<16 hex>-01 and tracestate havok=<job>; the trace id is returned', () => {
    const { headers, sent } = headersOf(tracer({ propagation: 'w3c' }));
    const m = W3C.exec(headers.traceparent);
    assert.ok(m, `traceparent ${headers.traceparent}`);
    assert.equal(m[1], sent);
    assert.equal(m[3], '01');
    assert.equal(headers.tracestate, 'havok=job1');
  });
  test('w3c, sampled = false: flags 00; tracestate = false: none', () => {
    const { headers } = headersOf(tracer({ propagation: 'w3c', sampled: false, tracestate: false }));
    assert.match(headers.traceparent, /-00$/);
    assert.equal(headers.tracestate, undefined);
  });
  test('b3 single header', () => {
    const { headers, sent } = headersOf(tracer({ propagation: 'b3' }));
    const m = B3.exec(headers.b3);
    assert.ok(m, `b3 ${headers.b3}`);
    assert.equal(m[1], sent);
    assert.equal(m[3], '1');
  });
  test('b3multi headers', () => {
    const { headers, sent } = headersOf(tracer({ propagation: 'b3multi', sampled: false }));
    assert.equal(headers['x-b3-traceid'], sent);
    assert.match(headers['x-b3-traceid'], HEX32);
    assert.match(headers['x-b3-spanid'], HEX16);
    assert.equal(headers['x-b3-sampled'], '0');
    assert.equal(headers['x-b3-parentspanid'], undefined);
  });
  test('jaeger uber-trace-id', () => {
    const { headers, sent } = headersOf(tracer({ propagation: 'jaeger' }));
    const m = JAEGER.exec(headers['uber-trace-id']);
    assert.ok(m, headers['uber-trace-id']);
    assert.equal(m[1], sent);
    assert.equal(m[3], '0');
  });
  test('the log\'s own trace headers are replaced, not sent beside ours', () => {
    const r = rec({ headers: { traceparent: '00-11111111111111111111111111111111-2222222222222222-01', b3: 'x', 'x-other': 'kept' } });
    const { headers } = headersOf(tracer({ propagation: 'w3c' }), r);
    assert.doesNotMatch(headers.traceparent, /1111/);
    assert.equal(headers.b3, undefined);
    assert.equal(headers['x-other'], 'kept');
  });
  test('custom templates: in-house schemes (x-rpc-id, x-trace-id), even with propagation off', () => {
    const { headers, sent } = headersOf(tracer({ headers: { 'X-Rpc-Id': '0', 'x-trace-id': '{trace_id}', 'x-mix': '{job}/{span_id}/{sampled}/{nope}' } }));
    assert.equal(headers['x-rpc-id'], '0');
    assert.equal(headers['x-trace-id'], sent);
    assert.match(headers['x-mix'], /^job1\/[0-9a-f]{16}\/1\/\{nope\}$/);
    assert.equal(headers.traceparent, undefined);
  });
});

describe('trace ids are unique', () => {
  test('property: any number of requests, every trace id and span id distinct and valid', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('w3c', 'b3', 'b3multi', 'jaeger') as fc.Arbitrary<TraceSettings['propagation']>, (n, propagation) => {
        const t = tracer({ propagation });
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) {
          const { sent } = headersOf(t);
          assert.match(sent, HEX32);
          seen.add(sent);
        }
        assert.equal(seen.size, n);
      }),
      { numRuns: 20 },
    );
  });
  test('the id pool crosses its refill boundary without repeating (100k ids)', () => {
    const pool = new IdPool();
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(pool.spanId());
    assert.equal(seen.size, 100_000);
  });
});

describe('keep_original: the replay joins the log\'s trace', () => {
  const rows: Array<[string, Record<string, string>, string | undefined, string | undefined]> = [
    ['traceparent', { TraceParent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, '0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331'],
    ['x-trace-id (plain hex, 16 digits)', { 'x-trace-id': 'A1B2C3D4E5F60718' }, 'a1b2c3d4e5f60718', undefined],
    ['TraceId as a UUID', { TraceId: '0af76519-16cd-43dd-8448-eb211c80319c' }, '0af7651916cd43dd8448eb211c80319c', undefined],
    ['uber-trace-id', { 'uber-trace-id': '5af7651916cd43dd:b7ad6b7169203331:0:1' }, '5af7651916cd43dd', 'b7ad6b7169203331'],
    ['b3 single', { b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' }, '80f198ee56343ba864fe8b2a57d3eff7', 'e457b5a2e4d86bd1'],
    ['not hex: a fresh trace', { 'x-trace-id': 'order-7788-zz' }, undefined, undefined],
    ['all zero: a fresh trace', { 'x-trace-id': '0000' }, undefined, undefined],
  ];
  for (const [why, headers, trace, span] of rows) {
    test(`${why}`, () => {
      const ctx = originalContext(rec({ headers }), traceSchema.parse({}).original_fields);
      assert.deepEqual(ctx && { traceId: ctx.traceId, spanId: ctx.spanId }, trace === undefined ? undefined : { traceId: trace, spanId: span });
    });
  }
  test('w3c keeps the log\'s trace id (padded to 32 hex), a new span under the original one', () => {
    const r = rec({ headers: { 'x-trace-id': 'a1b2c3d4e5f60718' } });
    const { headers, sent } = headersOf(tracer({ propagation: 'w3c', keep_original: true }), r);
    assert.equal(sent, '0000000000000000a1b2c3d4e5f60718');
    assert.match(headers.traceparent, /^00-0000000000000000a1b2c3d4e5f60718-[0-9a-f]{16}-01$/);
  });
  test('b3multi: the original span becomes the parent span', () => {
    const r = rec({ headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    const { headers } = headersOf(tracer({ propagation: 'b3multi', keep_original: true }), r);
    assert.equal(headers['x-b3-traceid'], '0af7651916cd43dd8448eb211c80319c');
    assert.equal(headers['x-b3-parentspanid'], 'b7ad6b7169203331');
    assert.notEqual(headers['x-b3-spanid'], 'b7ad6b7169203331');
  });
  test('original_fields = ["key"]: the record\'s hash_field value is the trace id', () => {
    const { sent } = headersOf(tracer({ propagation: 'jaeger', keep_original: true, original_fields: ['key'] }), rec({ key: 'abc123' }));
    assert.equal(sent, 'abc123');
  });
  test('a record without a trace id gets a fresh one', () => {
    const { sent } = headersOf(tracer({ propagation: 'w3c', keep_original: true }));
    assert.match(sent, HEX32);
  });
  test('parseTraceValue refuses a malformed span', () => assert.equal(parseTraceValue('abc-zzzz'), undefined));
});

describe('[replayer.trace] and [reporter.top] in the job config', () => {
  const issuesOf = (set: string[]): Array<{ key: string; message: string }> => {
    try {
      loadConfig({ set, env: {} });
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.exitCode, 2);
      return [...err.issues];
    }
    return [];
  };
  test('defaults: propagation off, top-K of 200 over five dimensions', () => {
    const cfg = loadConfig({ env: {} });
    assert.equal(cfg.replayer.trace.propagation, 'off');
    assert.equal(cfg.reporter.top.k, 200);
    assert.deepEqual(cfg.reporter.top.dimensions, ['route', 'url', 'host', 'status', 'key']);
  });
  test('set by flags and by the environment', () => {
    const cfg = loadConfig({ set: ['replayer.trace.propagation=b3multi', 'reporter.trace_url=http://j/{trace_id}'], env: { HAVOK_REPLAYER_TRACE_SAMPLED: 'false', HAVOK_REPORTER_TOP_K: '50' } });
    assert.equal(cfg.replayer.trace.propagation, 'b3multi');
    assert.equal(cfg.replayer.trace.sampled, false);
    assert.equal(cfg.reporter.top.k, 50);
    assert.equal(cfg.reporter.trace_url, 'http://j/{trace_id}');
  });
  test('a bad value or an unknown key exits 2 naming the key', () => {
    const keys = issuesOf(['replayer.trace.propagation=zipkin', 'replayer.trace.nope=1', 'reporter.top.k=3']).map((i) => i.key);
    assert.deepEqual(keys.sort(), ['replayer.trace.nope', 'replayer.trace.propagation', 'reporter.top.k'].sort());
  });
});
