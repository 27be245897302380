import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { apiTemplate } from '../../shared/api-name.js';
import {
  compileFilter,
  filterFromTable,
  filterTableSchema,
  filterToQuery,
  FilterError,
  parseFilter,
  rawFromFlags,
  requiredLiterals,
  rawFromQuery,
  rawFromTable,
  routeMatcher,
  type TrafficFilter,
} from '../../services/traffic/filter.js';
import { traceIdOf, type JsonObject } from '../../services/traffic/line.js';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const parse = (raw: Record<string, unknown>): TrafficFilter => parseFilter(raw, { now: NOW });
const matches = (raw: Record<string, unknown>, line: JsonObject, repo = 'shop'): boolean => compileFilter(parse(raw)).matches(line, repo);

const line = (over: JsonObject = {}): JsonObject => ({
  ts: NOW - 1000,
  received_ms: NOW,
  method: 'POST',
  url: '/api/orders/17?x=1',
  status: 201,
  headers: { Host: 'shop.example', 'User-Agent': 'curl/8' },
  ...over,
});

describe('parseFilter', () => {
  test('bad input throws FilterError naming the key', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ colour: 'red' }, 'colour'], // unknown key
      [{ repo: 'a.b' }, 'repo'], // not a subject token
      [{ since: 'yesterday-ish' }, 'since'], // not a time
      [{ until: '2026-13-45T99:00:00Z' }, 'until'], // shaped like ISO, not a date
      [{ since: '2h', until: '3h' }, 'until'], // until before since
      [{ path: '/a/[b' }, 'path'], // unbalanced bracket (strictBrackets)
      [{ path: '' }, 'path'], // empty glob
      [{ route: 'items/:id' }, 'route'], // no leading slash
      [{ status: '6xx' }, 'status'], // not a class
      [{ status: '20' }, 'status'], // not a code
      [{ 'field.user': '/(/' }, 'field.user'], // bad regex
      [{ 'field.': 'x' }, 'field.'], // no field name
      [{ method: 'GE T' }, 'method'], // not a token
      [{ host: { a: 1 } }, 'host'], // not a scalar
    ];
    for (const [raw, key] of cases) {
      assert.throws(() => parse(raw), (err: unknown) => err instanceof FilterError && err.key === key, `${JSON.stringify(raw)} should fail on ${key}`);
    }
  });

  test('times: epoch ms, ISO 8601 (UTC without a zone), now, durations ago', () => {
    const cases: Array<[string, number]> = [
      ['1700000000000', 1_700_000_000_000],
      ['2026-12-03T10:00:00Z', Date.UTC(2026, 11, 3, 10)],
      ['2026-12-03T10:00:00', Date.UTC(2026, 11, 3, 10)],
      ['2026-12-03 10:00', Date.UTC(2026, 11, 3, 10)],
      ['2026-12-03T11:00:00+01:00', Date.UTC(2026, 11, 3, 10)],
      ['2026-12-03', Date.UTC(2026, 11, 3)],
      ['now', NOW],
      ['90s', NOW - 90_000],
      ['15m', NOW - 900_000],
      ['1.5h', NOW - 5_400_000],
      ['7d', NOW - 7 * 86_400_000],
    ];
    for (const [text, want] of cases) assert.equal(parse({ since: text }).since, want, text);
  });

  test('normalises method, status and host; splits field equality from /regex/flags', () => {
    assert.deepEqual(parse({ method: 'post', status: '5XX', host: 'Shop.Example', 'field.user': 'u1', 'field.ua': '/^curl/i' }), {
      method: 'POST',
      status: '5xx',
      host: 'shop.example',
      fields: [
        { name: 'user', equals: 'u1' },
        { name: 'ua', regex: '^curl', flags: 'i' },
      ],
    });
  });
});

describe('entry points give the same filter', () => {
  test('flags, query params and a TOML table', () => {
    const want = parse({ repo: 'shop', method: 'POST', path: '/api/orders*', status: '2xx', trace_id: 't1', since: '1h', 'field.user': 'u1' });
    const fromFlags = parse(rawFromFlags({ repo: 'shop', method: 'POST', path: '/api/orders*', status: '2xx', traceId: 't1', since: '1h', field: ['user=u1'] }));
    const fromQuery = parse(rawFromQuery(new URLSearchParams('repo=shop&method=POST&path=/api/orders*&status=2xx&trace_id=t1&since=1h&field.user=u1&limit=5'), ['limit']));
    const fromTable = parse(rawFromTable({ repo: 'shop', method: 'POST', path: '/api/orders*', status: '2xx', trace_id: 't1', since: '1h', field: { user: 'u1' } }));
    assert.deepEqual(fromFlags, want);
    assert.deepEqual(fromQuery, want);
    assert.deepEqual(fromTable, want);
    // And back: the query form of a filter parses to the same filter.
    assert.deepEqual(parse(rawFromQuery(filterToQuery(want))), want);
  });

  test('a --field without = and a repeated query key are errors naming the key', () => {
    assert.throws(() => rawFromFlags({ field: ['user'] }), (e: unknown) => e instanceof FilterError && e.key === 'field');
    assert.throws(() => rawFromQuery(new URLSearchParams('repo=a&repo=b')), (e: unknown) => e instanceof FilterError && e.key === 'repo');
  });
});

describe('compileFilter', () => {
  test('subject narrows by repo and method', () => {
    assert.equal(compileFilter(parse({})).subject, 'havok.traffic.*.*');
    assert.equal(compileFilter(parse({ repo: 'shop' })).subject, 'havok.traffic.shop.*');
    assert.equal(compileFilter(parse({ method: 'get' })).subject, 'havok.traffic.*.GET');
    assert.equal(compileFilter(parse({ repo: 'shop', method: 'POST' })).subject, 'havok.traffic.shop.POST');
  });

  test('predicate, one condition at a time', () => {
    const l = line();
    const cases: Array<[Record<string, unknown>, boolean, string]> = [
      [{}, true, 'empty filter matches all'],
      [{ repo: 'shop' }, true, 'repo from the subject'],
      [{ repo: 'other' }, false, 'other repo'],
      [{ method: 'post' }, true, 'method case-insensitive'],
      [{ method: 'GET' }, false, 'other method'],
      [{ path: '/api/orders*' }, false, '* stays within a segment'],
      [{ path: '/api/orders/*' }, true, 'query string is not part of the path'],
      [{ path: '/api/**' }, true, '** crosses segments'],
      [{ route: '/api/orders/:id' }, true, 'route template'],
      [{ route: '/api/orders' }, false, 'route needs every segment'],
      [{ status: '201' }, true, 'status code'],
      [{ status: '2xx' }, true, 'status class'],
      [{ status: '5xx' }, false, 'other class'],
      [{ host: 'SHOP.example' }, true, 'host from the Host header, case-insensitive'],
      [{ since: String(NOW), until: String(NOW) }, true, 'inclusive time bounds on received_ms'],
      [{ since: String(NOW + 1) }, false, 'before since'],
      [{ 'field.headers.User-Agent': '/^curl\\//' }, true, 'nested field regex'],
      [{ 'field.status': '201' }, true, 'numbers compare as text'],
      [{ 'field.user': 'x' }, false, 'missing field never matches'],
    ];
    for (const [raw, want, why] of cases) assert.equal(matches(raw, l), want, `${why}: ${JSON.stringify(raw)}`);
  });

  test('host from an absolute URL or a host field; missing status never matches a class', () => {
    assert.ok(matches({ host: 'api.example:8080' }, line({ url: 'http://API.example:8080/x', headers: {} })));
    assert.ok(matches({ host: 'h1' }, line({ host: 'H1' })));
    assert.ok(!matches({ status: '2xx' }, line({ status: undefined })));
  });

  test('a line without a method matches method _ only', () => {
    assert.ok(matches({ method: '_' }, line({ method: undefined })));
    assert.ok(!matches({ method: 'GET' }, line({ method: undefined })));
  });
});

describe('traceIdOf', () => {
  test('default fields in order, then traceparent (field or header); trace_field overrides', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const cases: Array<[JsonObject, string | undefined, string | undefined]> = [
      [{ trace_id: 'a', traceId: 'b' }, undefined, 'a'],
      [{ traceId: 'b', TraceId: 'c' }, undefined, 'b'],
      [{ TraceId: 'c', traceparent: tp }, undefined, 'c'],
      [{ traceparent: tp }, undefined, '4bf92f3577b34da6a3ce929d0e0e4736'],
      [{ headers: { TraceParent: tp.toUpperCase() } }, undefined, '4bf92f3577b34da6a3ce929d0e0e4736'],
      [{ traceparent: 'garbage' }, undefined, undefined],
      [{ trace_id: '' }, undefined, undefined],
      [{ trace_id: 'a', rid: 'r1' }, 'rid', 'r1'],
      [{ trace_id: 'a' }, 'rid', undefined],
    ];
    for (const [l, field, want] of cases) assert.equal(traceIdOf(l, field), want, JSON.stringify([l, field]));
  });
});

describe('routes and the reporter\'s path templates agree', () => {
  test('every path matches the route template stats reports for it', () => {
    const seg = fc.oneof(fc.constantFrom('api', 'items', 'orders', 'v2'), fc.nat({ max: 99999 }).map(String), fc.uuid(), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 8, maxLength: 12 }));
    fc.assert(
      fc.property(fc.array(seg, { minLength: 0, maxLength: 5 }), (segs) => {
        const path = '/' + segs.join('/');
        return routeMatcher(apiTemplate(path))(path);
      }),
    );
  });
});

// A slow, obviously right reference of the language over a small alphabet, after k6's big.Rat
// reference: the compiled predicate must agree with it for any filter and line.
describe('property: compiled predicate = brute-force reference', () => {
  const REPOS = ['shop', 'auth'];
  const METHODS = ['GET', 'POST', 'get'];
  const PATHS = ['/api/orders', '/api/orders/7', '/api/ordersX', '/items/9', '/'];
  const arbLine = fc.record({
    repo: fc.constantFrom(...REPOS),
    method: fc.option(fc.constantFrom(...METHODS), { nil: undefined }),
    path: fc.constantFrom(...PATHS),
    query: fc.constantFrom('', '?a=1'),
    status: fc.option(fc.constantFrom(200, 201, 404, 503), { nil: undefined }),
    t: fc.integer({ min: 0, max: 100 }),
    user: fc.option(fc.constantFrom('u1', 'u2', 'x9'), { nil: undefined }),
    trace: fc.option(fc.constantFrom('t1', 't2'), { nil: undefined }),
  });
  const arbFilter = fc.record(
    {
      repo: fc.constantFrom(...REPOS),
      method: fc.constantFrom('GET', 'POST', '_'),
      path: fc.constantFrom('/api/orders*', '/api/**', '/items/*', '/'),
      route: fc.constantFrom('/api/orders/:id', '/items/:id', '/api/orders'),
      status: fc.constantFrom('200', '2xx', '5xx', '404'),
      since: fc.integer({ min: 0, max: 100 }),
      until: fc.integer({ min: 50, max: 150 }),
      trace_id: fc.constantFrom('t1', 't2'),
      user: fc.constantFrom('u1', '/^u/', '/9$/'),
    },
    { requiredKeys: [] },
  );
  type L = { repo: string; method?: string; path: string; query: string; status?: number; t: number; user?: string; trace?: string };
  type F = { repo?: string; method?: string; path?: string; route?: string; status?: string; since?: number; until?: number; trace_id?: string; user?: string };

  const globRef = (g: string, p: string): boolean => {
    if (g === '/api/orders*') return p === '/api/orders' || (p.startsWith('/api/orders') && !p.slice(11).includes('/'));
    if (g === '/api/**') return p === '/api' || p.startsWith('/api/');
    if (g === '/items/*') return p.startsWith('/items/') && p.length > 7 && !p.slice(7).includes('/');
    return p === g;
  };
  const routeRef = (r: string, p: string): boolean => {
    const a = r.split('/');
    const b = p.split('/');
    return a.length === b.length && a.every((s, i) => (s.startsWith(':') ? b[i] !== '' : s === b[i]));
  };
  const reference = (f: F, l: L): boolean =>
    (f.repo === undefined || f.repo === l.repo) &&
    (f.method === undefined || f.method === (l.method?.toUpperCase() ?? '_')) &&
    (f.path === undefined || globRef(f.path, l.path)) &&
    (f.route === undefined || routeRef(f.route, l.path)) &&
    (f.status === undefined || (l.status !== undefined && (f.status.endsWith('xx') ? String(l.status)[0] === f.status[0] : String(l.status) === f.status))) &&
    (f.since === undefined || l.t >= f.since) &&
    (f.until === undefined || l.t <= f.until) &&
    (f.trace_id === undefined || f.trace_id === l.trace) &&
    (f.user === undefined || (l.user !== undefined && (f.user.startsWith('/') ? new RegExp(f.user.slice(1, -1)).test(l.user) : f.user === l.user)));

  test('agree on random filters and lines', () => {
    fc.assert(
      fc.property(arbFilter, fc.array(arbLine, { maxLength: 30 }), (f, lines) => {
        if (f.since !== undefined && f.until !== undefined && f.until < f.since) return true;
        const { user, ...rest } = f;
        const c = compileFilter(parse({ ...rest, ...(user !== undefined ? { 'field.user': user } : {}) }));
        for (const l of lines) {
          const stored: JsonObject = { received_ms: l.t, url: l.path + l.query, method: l.method, status: l.status, user: l.user, trace_id: l.trace };
          assert.equal(c.matches(stored, l.repo), reference(f, l), JSON.stringify({ f, l }));
          // The byte check before decoding never rejects a line the predicate accepts.
          if (reference(f, l) && c.mayMatch) assert.ok(c.mayMatch(Buffer.from(JSON.stringify(stored))), JSON.stringify({ f, l }));
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });
});

describe('literals checked before decoding', () => {
  const bytes = (o: object): Uint8Array => new TextEncoder().encode(JSON.stringify(o));
  test('what each condition requires', () => {
    const rows: Array<[Record<string, unknown>, string[], string]> = [
      [{ 'field.user': 'nobody' }, ['nobody'], 'a field equal to a value'],
      [{ 'field.user': '/^u1/' }, [], 'a regex requires nothing'],
      [{ 'field.note': 'say "hi"' }, [], 'a value JSON would escape is not a literal'],
      [{ status: '503' }, ['503'], 'a status code'],
      [{ status: '5xx' }, [], 'a class'],
      [{ path: '/api/orders*' }, ['/api/orders'], 'a glob\'s literal start'],
      [{ path: '/api/orders/**' }, ['/api/orders'], 'without its last slash'],
      [{ path: '!/health' }, [], 'a negated glob'],
      [{ route: '/api/users/:id/cart' }, ['/api/users/'], 'a route up to its first parameter'],
      [{ route: '/:id' }, [], 'a lone slash is no use'],
      [{ repo: 'shop', method: 'GET', host: 'a.example' }, [], 'narrowed in the server, or case-insensitive'],
    ];
    for (const [raw, want, why] of rows) assert.deepEqual(requiredLiterals(parse(raw)), want, why);
  });
  test('a line without the literal is rejected undecoded; one with a backslash goes to the predicate', () => {
    const c = compileFilter(parse({ 'field.user': 'nobody', status: '503' }));
    assert.equal(c.mayMatch!(bytes({ user: 'nobody', status: 503 })), true);
    assert.equal(c.mayMatch!(bytes({ user: 'nobody-else', status: 503 })), true, 'a necessary condition only');
    assert.equal(c.mayMatch!(bytes({ user: 'u1', status: 503 })), false);
    assert.equal(c.mayMatch!(new TextEncoder().encode('{"user":"nob\\u006fdy","status":503}')), true, 'an escape could spell it');
    assert.equal(compileFilter(parse({ repo: 'shop' })).mayMatch, undefined);
  });
});

describe('filterTableSchema (a TOML filter table in a config section)', () => {
  test('a bad key or value is an issue at that key', () => {
    const s = z.object({ filter: filterTableSchema.optional() }).strict();
    assert.ok(s.safeParse({ filter: { repo: 'shop', field: { user: '/^u/' } } }).success);
    const bad = s.safeParse({ filter: { repo: 'shop', path: '/a/[b' } });
    assert.ok(!bad.success);
    assert.deepEqual(bad.error.issues[0]!.path, ['filter', 'path']);
    const badField = s.safeParse({ filter: { 'field.user': '/(/' } });
    assert.ok(!badField.success);
    assert.deepEqual(badField.error.issues[0]!.path, ['filter', 'field', 'user']);
    assert.deepEqual(filterFromTable({ status: 500 }, NOW), { status: '500' });
  });
});
