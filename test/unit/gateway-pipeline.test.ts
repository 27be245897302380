/**
 * The gateway's pure parts: each executer as a table (input line, step, expected line or error),
 * the constraint, a repo's whole pipeline over a body (indexes, subjects, received_ms, malformed
 * and dropped lines with reasons), the byte budget, the log sampler, the request checks (415,
 * Idempotency-Key) and the `[gateway]` settings' errors, each naming its key.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { kafkaSecurity } from '../../shared/kafka/security.js';
import { trafficFilter, trafficSubject } from '../../shared/protocol.js';
import { bodyEncoding } from '../../services/gateway/body.js';
import { ByteBudget } from '../../services/gateway/budget.js';
import { IngestError } from '../../services/gateway/errors.js';
import { parseListen } from '../../services/gateway/gateway.js';
import { authorized, idempotencyKey } from '../../services/gateway/ingest.js';
import { compileConstraint } from '../../services/gateway/pipeline/constraint.js';
import { runExecuter, type ExecuterSettings, type Line } from '../../services/gateway/pipeline/executers.js';
import { compileRepo, processBody } from '../../services/gateway/pipeline/pipeline.js';
import { Sampler } from '../../services/gateway/sampler.js';
import { batchDue } from '../../services/gateway/outputs/batch.js';
import { gatewayFileIssues, gatewayIssues, gatewaySchema, retentionByStream, type RepoSettings } from '../../services/gateway/settings.js';
import { shouldSample } from '../../services/traffic/keep.js';

const repo = (r: unknown): RepoSettings => gatewaySchema.parse({ repos: { r } }).repos.r;
const step = (s: unknown): ExecuterSettings => repo({ executers: [s] }).executers[0];

describe('executers', () => {
  const rows: Array<[string, Line, unknown, Line | string]> = [
    ['json decodes a field in place', { m: '{"a":1}' }, { type: 'json', field: 'm' }, { m: { a: 1 } }],
    ['json into "." merges the object', { m: '{"a":1}', b: 2 }, { type: 'json', field: 'm', into: '.' }, { a: 1, b: 2 }],
    ['json of a non-JSON string fails', { m: '{a' }, { type: 'json', field: 'm' }, 'm is not JSON'],
    ['json of an absent field fails', {}, { type: 'json', field: 'm' }, 'm is not a string'],
    ['split into a list', { r: 'GET /x 200' }, { type: 'split', field: 'r', separator: ' ' }, { r: ['GET', '/x', '200'] }],
    ['split with a limit keeps the rest in the last part', { r: 'a b c d' }, { type: 'split', field: 'r', separator: ' ', limit: 2, into: 'p' }, { r: 'a b c d', p: ['a', 'b c d'] }],
    ['names assigns parts, "" skips one, the list goes', { p: ['GET', '/x', '200'] }, { type: 'names', field: 'p', names: ['method', 'url', ''] }, { method: 'GET', url: '/x' }],
    ['names with fewer parts leaves the rest absent', { p: ['GET'] }, { type: 'names', field: 'p', names: ['method', 'url'] }, { method: 'GET' }],
    ['names of a non-list fails', { p: 'x' }, { type: 'names', field: 'p', names: ['a'] }, 'p is not a list'],
    ['rename', { path: '/x', q: 1 }, { type: 'rename', fields: { path: 'url', missing: 'y' } }, { url: '/x', q: 1 }],
    ['drop', { a: 1, b: 2, c: 3 }, { type: 'drop', fields: ['a', 'c'] }, { b: 2 }],
    ['set', { a: 1 }, { type: 'set', fields: { a: 2, host: 'h', on: true } }, { a: 2, host: 'h', on: true }],
    ['timestamp ISO into ts', { time: '2024-01-01T00:00:01.500Z' }, { type: 'timestamp', field: 'time' }, { time: '2024-01-01T00:00:01.500Z', ts: Date.UTC(2024, 0, 1, 0, 0, 1, 500) }],
    ['timestamp epoch seconds', { t: 1704067200 }, { type: 'timestamp', field: 't', into: 't' }, { t: 1704067200000 }],
    ['timestamp access-log form', { t: '[01/Jan/2024:00:00:00 +0000]' }, { type: 'timestamp', field: 't', into: 't' }, { t: Date.UTC(2024, 0, 1) }],
    ['timestamp of garbage fails', { t: 'soon' }, { type: 'timestamp', field: 't' }, 't is not a time'],
  ];
  for (const [name, input, s, want] of rows) {
    test(name, () => {
      const line = structuredClone(input);
      const err = runExecuter(line, step(s));
      if (typeof want === 'string') assert.equal(err, want, `runExecuter(${JSON.stringify(input)}, ${JSON.stringify(s)})`);
      else {
        assert.equal(err, undefined, `runExecuter(${JSON.stringify(input)}, ${JSON.stringify(s)}) failed`);
        assert.deepEqual(line, want);
      }
    });
  }
});

describe('constraint', () => {
  const c = compileConstraint(repo({ constraint: { required: ['url'], equals: { env: 'prod' }, matches: { url: '^/api/', status: '^2' } } }).constraint);
  const rows: Array<[string, Line, string | undefined]> = [
    ['passes', { url: '/api/x', env: 'prod', status: 200 }, undefined],
    ['required missing', { env: 'prod' }, 'url is required'],
    ['required null', { url: null, env: 'prod' }, 'url is required'],
    ['equality fails', { url: '/api/x', env: 'dev', status: 200 }, 'env is not "prod"'],
    ['regex fails', { url: '/web', env: 'prod', status: 200 }, 'url does not match /^\\/api\\//'],
    ['regex on a number, as text', { url: '/api/x', env: 'prod', status: 500 }, 'status does not match /^2/'],
  ];
  for (const [name, line, want] of rows) test(name, () => assert.equal(c(line), want, JSON.stringify(line)));
});

describe('a repo over a body', () => {
  const pipeline = compileRepo(
    repo({
      constraint: { required: ['url'] },
      executers: [
        { type: 'split', field: 'req', separator: ' ' },
        { type: 'names', field: 'req', names: ['method', 'url'] },
        { type: 'drop', fields: ['secret'] },
      ],
    }),
  );
  const body = ['{"req":"get /a","secret":1}', '', 'garbage', '{"req":"POST /b"', '{"req":7}', '[1,2]', '{"req":"PUT"}', '{"req":"b@d /c"}\r', ''].join('\n');
  const r = processBody(body, 'web', pipeline, 1234);

  test('stored lines keep their index in the body, the subject by method, received_ms added', () => {
    assert.deepEqual(r.stored, [
      { index: 0, subject: 'havok.traffic.web.GET', payload: '{"method":"get","url":"/a","received_ms":1234}' },
      { index: 7, subject: 'havok.traffic.web._', payload: '{"method":"b@d","url":"/c","received_ms":1234}' },
    ]);
  });
  test('malformed: not JSON, half JSON, not an object', () => {
    assert.deepEqual(r.malformed.map((m) => m.index), [2, 3, 5]);
    assert.match(r.malformed[0].reason, /^not JSON/);
    assert.equal(r.malformed[2].reason, 'not a JSON object');
  });
  test('dropped: a failing executer, a failing constraint, each with its reason', () => {
    assert.deepEqual(r.dropped.map((d) => [d.index, d.reason]), [
      [4, 'executers[0] (split): req is not a string'],
      [6, 'constraint: url is required'],
    ]);
  });
  test('a payload over the store limit is dropped, not stored', () => {
    const big = processBody(JSON.stringify({ url: '/x', req: 'GET /' + 'x'.repeat(100) }), 'web', pipeline, 1, 50);
    assert.equal(big.stored.length, 0);
    assert.match(big.dropped[0].reason, /over the store's message limit \(50 bytes\)/);
  });
  test('every non-blank line is counted exactly once, whatever the body (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant('{"req":"GET /x"}'), fc.constant('{"req":1}'), fc.string(), fc.constant(''))), (lines) => {
        const res = processBody(lines.join('\n'), 'web', pipeline, 0);
        const nonBlank = lines.join('\n').split('\n').filter((l) => l.replace(/\r$/, '').trim() !== '').length;
        assert.equal(res.stored.length + res.dropped.length + res.malformed.length + res.sampled_out, nonBlank);
        const idx = [...res.stored, ...res.dropped, ...res.malformed].map((x) => x.index);
        assert.equal(new Set(idx).size, idx.length);
      }),
    );
  });
});

describe('sampling at ingest', () => {
  // Half of the users, by the key the executers produce; a line without the key is kept.
  const pipeline = compileRepo(repo({ executers: [{ type: 'rename', fields: { uid: 'user' } }], constraint: { required: ['url'] }, sample: { rate: 0.5, key: 'user' } }));
  const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
  const lines = users.flatMap((u) => [1, 2, 3].map((n) => JSON.stringify({ uid: u, url: `/x/${n}` })));
  const r = processBody([...lines, '{"url":"/anon"}', '{"uid":"u1"}', 'nope'].join('\n'), 'web', pipeline, 5);
  const kept = users.filter((u) => shouldSample({ user: u }, { rate: 0.5, key: 'user', missing: 'keep' }));

  test('a sampled key keeps all its lines, an unsampled one none; they are counted, not stored', () => {
    assert.ok(kept.length > 5 && kept.length < 35, `${kept.length} of 40 users sampled`);
    const storedUsers = r.stored.map((x) => (JSON.parse(x.payload) as { user?: string }).user);
    for (const u of users) assert.equal(storedUsers.filter((x) => x === u).length, kept.includes(u) ? 3 : 0, u);
    assert.equal(r.sampled_out, (users.length - kept.length) * 3);
    assert.equal(storedUsers.filter((x) => x === undefined).length, 1, 'no key: kept (missing = "keep")');
  });
  test('sampling comes after the constraint and the executers: a dropped line is dropped, not sampled out', () => {
    assert.deepEqual(r.dropped.map((d) => d.reason), ['constraint: url is required']);
    assert.equal(r.malformed.length, 1);
  });
  test('missing = "drop" leaves out lines without the key', () => {
    const p = compileRepo(repo({ sample: { rate: 1, key: 'user', missing: 'drop' } }));
    const strict = compileRepo(repo({ sample: { rate: 0.999, key: 'user', missing: 'drop' } }));
    assert.equal(processBody('{"url":"/a"}', 'web', p, 0).sampled_out, 0, 'rate 1 keeps everything');
    assert.equal(processBody('{"url":"/a"}', 'web', strict, 0).sampled_out, 1);
  });
});

describe('traffic subjects (shared contract)', () => {
  test('subject and filter', () => {
    assert.equal(trafficSubject('web', 'get'), 'havok.traffic.web.GET');
    assert.equal(trafficSubject('web', ''), 'havok.traffic.web._');
    assert.equal(trafficSubject('web', 'a.b'), 'havok.traffic.web._');
    assert.equal(trafficFilter(), 'havok.traffic.*.*');
    assert.equal(trafficFilter('web'), 'havok.traffic.web.*');
    assert.equal(trafficFilter('web', 'post'), 'havok.traffic.web.POST');
  });
});

describe('request checks', () => {
  const status = (fn: () => unknown): number | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      return err instanceof IngestError ? err.status : -1;
    }
  };
  test('content type and encoding', () => {
    assert.equal(bodyEncoding(undefined, undefined), 'identity');
    assert.equal(bodyEncoding('application/x-ndjson; charset=utf-8', 'gzip'), 'gzip');
    assert.equal(status(() => bodyEncoding('multipart/form-data', undefined)), 415);
    assert.equal(status(() => bodyEncoding(undefined, 'br')), 415);
  });
  test('Idempotency-Key (or X-Batch-Id)', () => {
    assert.equal(idempotencyKey({ 'idempotency-key': 'b-1' }), 'b-1');
    assert.equal(idempotencyKey({ 'x-batch-id': 'b-2' }), 'b-2');
    assert.equal(idempotencyKey({}), undefined);
    assert.equal(status(() => idempotencyKey({ 'idempotency-key': 'has space' })), 400);
    assert.equal(status(() => idempotencyKey({ 'idempotency-key': 'x'.repeat(201) })), 400);
  });
  test('listen address', () => {
    assert.deepEqual(parseListen('127.0.0.1:9080'), { host: '127.0.0.1', port: 9080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  });
});

describe('budget and sampler', () => {
  test('the budget refuses what does not fit and takes nothing then', () => {
    const b = new ByteBudget(100);
    assert.equal(b.take(60), true);
    assert.equal(b.take(41), false);
    assert.equal(b.inUse, 60);
    b.give(60);
    assert.equal(b.take(100), true);
  });
  test('the sampler allows n per wall-clock minute', () => {
    const s = new Sampler(2);
    assert.deepEqual([s.take(0), s.take(1), s.take(2), s.take(60_000), s.take(60_001), s.take(60_002)], [true, true, false, true, true, false]);
  });
});

describe('Kafka batching', () => {
  test('a batch is due when full by count or bytes, else after its linger', () => {
    const l = { count: 100, bytes: 1000, lingerMs: 20 };
    const rows: Array<[number, number, number, boolean, string]> = [
      [0, 0, 100, false, 'empty: never'],
      [100, 10, 0, true, 'full by count'],
      [5, 1000, 0, true, 'full by bytes'],
      [5, 10, 19, false, 'within the linger'],
      [5, 10, 20, true, 'linger over'],
    ];
    for (const [lines, bytes, age, want, why] of rows) assert.equal(batchDue(lines, bytes, 1000, 1000 + age, l), want, why);
    assert.equal(batchDue(1, 1, 0, 0, { count: 100, bytes: 0, lingerMs: 0 }), true, 'no linger: at once');
  });
});

describe('[gateway] settings', () => {
  const issues = (toml: Record<string, unknown>): string[] => {
    try {
      const cfg = loadConfig({ set: Object.entries(toml).map(([k, v]) => `${k}=${JSON.stringify(v)}`) });
      return gatewayIssues(cfg.gateway).map((i) => i.key);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.issues.map((i) => i.key);
    }
  };
  test('defaults', () => {
    const g = loadConfig({}).gateway;
    assert.equal(g.listen, '127.0.0.1:9080');
    assert.equal(g.max_body_bytes, 16 * 1024 * 1024);
  });
  test('each error names its key', () => {
    assert.deepEqual(issues({ 'gateway.listen': 'nowhere' }), ['gateway.listen']);
    assert.deepEqual(issues({ 'gateway.bogus': 1 }), ['gateway.bogus']);
    assert.deepEqual(issues({ 'gateway.repos.web.output': 'nope' }), ['gateway.repos.web.output']);
    assert.deepEqual(issues({ 'gateway.repos.web.constraint.matches.url': '(' }), ['gateway.repos.web.constraint.matches.url']);
    assert.deepEqual(issues({ 'gateway.repos.a.b': 'x' }), ['gateway.repos.a.b']);
    const bad = gatewaySchema.safeParse({ repos: { a: { executers: [{ type: 'split', field: 'x' }, { type: 'nope' }] } } });
    assert.deepEqual(bad.error?.issues.map((i) => i.path.join('.')), ['repos.a.executers.0.separator', 'repos.a.executers.1.type']);
    assert.deepEqual(issues({ 'gateway.max_inflight_bytes': 2048, 'gateway.max_body_bytes': 4096 }), ['gateway.max_inflight_bytes']);
    assert.deepEqual(issues({ 'gateway.producers.p.type': 'carrier-pigeon' }), ['gateway.producers.p.type']);
    // A byte limit alone never sends a small batch (chopper-go's sarama pitfall): refused.
    assert.deepEqual(issues({ 'gateway.producers.k.type': 'kafka', 'gateway.producers.k.brokers': 'h:9092', 'gateway.producers.k.batch_bytes': 65536 }), ['gateway.producers.k.linger_ms']);
    assert.deepEqual(issues({ 'gateway.producers.k.type': 'kafka', 'gateway.producers.k.brokers': 'h:9092', 'gateway.producers.k.batch_bytes': 65536, 'gateway.producers.k.linger_ms': 5 }), []);
    assert.deepEqual(issues({ 'gateway.producers.k.type': 'kafka' }), ['gateway.producers.k.brokers']);
    assert.deepEqual(issues({ 'gateway.producers.k.type': 'kafka', 'gateway.producers.k.brokers': 'h:9092', 'gateway.producers.k.compression': 'brotli' }), ['gateway.producers.k.compression']);
  });

  test('Kafka producers: TLS and SASL keys, checked, their files relative to the config and read at start', () => {
    const kafka = { 'gateway.producers.k.type': 'kafka', 'gateway.producers.k.brokers': 'h:9093' };
    assert.deepEqual(issues({ ...kafka, 'gateway.producers.k.sasl.mechanism': 'kerberos', 'gateway.producers.k.sasl.username': 'u', 'gateway.producers.k.sasl.password': 'p' }), ['gateway.producers.k.sasl.mechanism']);
    assert.deepEqual(issues({ ...kafka, 'gateway.producers.k.sasl.mechanism': 'plain', 'gateway.producers.k.sasl.username': '' }), ['gateway.producers.k.sasl.username', 'gateway.producers.k.sasl.password']);
    assert.deepEqual(issues({ ...kafka, 'gateway.producers.k.ssl': 'yes' }), ['gateway.producers.k.ssl']);

    const dir = mkdtempSync(join(tmpdir(), 'havok-gateway-kafka-'));
    mkdirSync(join(dir, 'certs'));
    writeFileSync(join(dir, 'certs/ca.pem'), 'PEM');
    const file = join(dir, 'gateway.toml');
    const toml = (ca: string): string => `[gateway.producers.k]\ntype = "kafka"\nbrokers = "h:9093"\nssl = { ca = "${ca}", servername = "kafka.internal", reject_unauthorized = false }\nsasl = { mechanism = "scram-sha-512", username = "u", password = "p" }\n`;
    writeFileSync(file, toml('certs/ca.pem'));
    const g = loadConfig({ file }).gateway;
    const k = g.producers.k;
    assert.ok(k?.type === 'kafka');
    assert.deepEqual(k.ssl, { ca: join(dir, 'certs/ca.pem'), servername: 'kafka.internal', reject_unauthorized: false });
    assert.deepEqual(gatewayFileIssues(g), []);
    // What kafkajs is given: the PEM's bytes, node:tls option names, the SASL mechanism and credentials.
    const opts = kafkaSecurity(k, 'gateway.producers.k');
    assert.deepEqual(opts.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p' });
    assert.ok(typeof opts.ssl === 'object');
    assert.equal(String(opts.ssl.ca), 'PEM');
    assert.equal(opts.ssl.servername, 'kafka.internal');
    assert.equal(opts.ssl.rejectUnauthorized, false);
    assert.equal(kafkaSecurity({ ssl: true }, 'x').ssl, true);

    writeFileSync(file, toml('certs/missing.pem'));
    const missing = gatewayFileIssues(loadConfig({ file }).gateway);
    assert.deepEqual(missing.map((i) => i.key), ['gateway.producers.k.ssl.ca']);
    assert.match(missing[0]!.message, /cannot read .*certs\/missing\.pem/);
  });
  test('sampling and retention keys of a repo: bad values name the key', () => {
    assert.deepEqual(issues({ 'gateway.repos.web.sample.rate': 0, 'gateway.repos.web.sample.key': 'user' }), ['gateway.repos.web.sample.rate']);
    assert.deepEqual(issues({ 'gateway.repos.web.sample.rate': 1.5, 'gateway.repos.web.sample.key': 'user' }), ['gateway.repos.web.sample.rate']);
    assert.deepEqual(issues({ 'gateway.repos.web.sample.rate': 0.5 }), ['gateway.repos.web.sample.key']);
    assert.deepEqual(issues({ 'gateway.repos.web.sample.rate': 0.5, 'gateway.repos.web.sample.key': 'u', 'gateway.repos.web.sample.missing': 'maybe' }), ['gateway.repos.web.sample.missing']);
    assert.deepEqual(issues({ 'gateway.repos.web.max_bytes': -1 }), ['gateway.repos.web.max_bytes']);
    assert.deepEqual(issues({ 'gateway.repos.web.max_age_ms': 1.5 }), ['gateway.repos.web.max_age_ms']);
    assert.deepEqual(issues({ 'gateway.retention_interval_ms': 10 }), ['gateway.retention_interval_ms']);
    // A Kafka topic keeps its own retention: a limit on a repo writing to Kafka is refused.
    const kafka = { 'gateway.producers.k.type': 'kafka', 'gateway.producers.k.brokers': 'h:9092', 'gateway.repos.web.output': 'k' };
    assert.deepEqual(issues({ ...kafka, 'gateway.repos.web.max_bytes': 1000 }), ['gateway.repos.web.max_bytes']);
    assert.deepEqual(issues({ ...kafka, 'gateway.repos.web.sample.rate': 0.5, 'gateway.repos.web.sample.key': 'u' }), [], 'sampling works with any output');
  });
  test('retention by stream: only limited repos writing to JetStream', () => {
    const g = gatewaySchema.parse({
      producers: { other: { type: 'jetstream', stream: 'OTHER' } },
      repos: { a: { max_bytes: 10 }, b: {}, c: { output: 'other', max_age_ms: 5 } },
    });
    assert.deepEqual(
      [...retentionByStream(g)].map(([s, l]) => [s, Object.fromEntries(l)]),
      [
        ['HAVOK_TRAFFIC', { a: { max_age_ms: 0, max_bytes: 10 } }],
        ['OTHER', { c: { max_age_ms: 5, max_bytes: 0 } }],
      ],
    );
  });
});

describe('gateway: per-repo bearer token', () => {
  const token = 'a-token-of-sixteen+';
  const rows: Array<[string, Record<string, string>, string | undefined, boolean]> = [
    // no token configured: anyone may write
    ['no token configured', {}, undefined, true],
    ['the right token', { authorization: `Bearer ${token}` }, token, true],
    ['scheme in any case, trailing space', { authorization: `bearer ${token} ` }, token, true],
    ['no header', {}, token, false],
    ['a wrong token', { authorization: 'Bearer a-token-of-sixteen-' }, token, false],
    ['a prefix of it', { authorization: 'Bearer a-token' }, token, false],
    ['basic auth', { authorization: `Basic ${token}` }, token, false],
  ];
  for (const [why, headers, configured, ok] of rows) {
    test(`${why} → ${ok ? 'allowed' : '401'}`, () => assert.equal(authorized(headers, configured), ok));
  }
});
