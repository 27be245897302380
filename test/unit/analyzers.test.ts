import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { buildChain } from '../../services/fetcher/analyzers/chain.js';
import { isLowerAscii, upperCase } from '../../services/fetcher/analyzers/case.js';
import { combined, combinedAnalyzer, common, commonAnalyzer } from '../../services/fetcher/analyzers/combined.js';
import { jsonlAnalyzer } from '../../services/fetcher/analyzers/jsonl.js';
import { loadAnalyzerModule } from '../../services/fetcher/analyzers/module.js';
import { epochToMs, parseClfTime, parseEpoch, parseIsoTime, parseTime } from '../../services/fetcher/analyzers/time.js';
import type { ParsedRecord } from '../../services/fetcher/analyzers/types.js';

// The sample log bundled in the repo (a copy of ../shared/data/apache_logs), from dist/test/unit/.
export const APACHE_LOGS = fileURLToPath(new URL('../../../examples/data/apache_logs', import.meta.url));

const T0 = Date.UTC(2015, 4, 17, 10, 5, 3); // 17/May/2015:10:05:03 +0000

// -------------------------------------------------------------------------------------------
// time

describe('parseClfTime', () => {
  const rows: Array<[string, number, string]> = [
    ['17/May/2015:10:05:03 +0000', T0, 'UTC'],
    ['17/May/2015:12:05:03 +0200', T0, 'east of UTC: local is ahead'],
    ['17/May/2015:02:35:03 -0730', T0, 'west of UTC, half-hour offset'],
    ['17/may/2015:10:05:03 +0000', T0, 'month name in lower case'],
    ['17/May/2015:10:05:03', T0, 'no zone: UTC'],
    ['29/Feb/2016:00:00:00 +0000', Date.UTC(2016, 1, 29), 'leap day'],
    ['29/Feb/2015:00:00:00 +0000', NaN, 'no leap day in 2015 (no roll-over to March)'],
    ['17/Mai/2015:10:05:03 +0000', NaN, 'unknown month'],
    ['17/May/2015:25:05:03 +0000', NaN, 'hour out of range'],
    ['7/May/2015:10:05:03 +0000', NaN, 'one-digit day is not the format'],
    ['17/May/2015:10:05:03 0000', NaN, 'zone without sign'],
    ['17/May/2015:10:05', NaN, 'truncated'],
    ['', NaN, 'empty'],
  ];
  for (const [input, want, why] of rows) {
    it(`${why}: ${JSON.stringify(input)}`, () => assert.equal(parseClfTime(input), want, `parseClfTime(${JSON.stringify(input)})`));
  }

  it('round-trips any instant and offset (property, reference formatter built on Date)', () => {
    const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const p2 = (n: number) => String(n).padStart(2, '0');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_102_444_799 }), // 1970 … 2099, whole seconds as logged
        fc.integer({ min: -12 * 60, max: 14 * 60 }), // any offset in minutes
        (sec, off) => {
          const local = new Date(sec * 1000 + off * 60_000); // local wall time, read with UTC getters
          const a = Math.abs(off);
          const s =
            `${p2(local.getUTCDate())}/${MON[local.getUTCMonth()]}/${local.getUTCFullYear()}:` +
            `${p2(local.getUTCHours())}:${p2(local.getUTCMinutes())}:${p2(local.getUTCSeconds())} ` +
            `${off < 0 ? '-' : '+'}${p2(Math.floor(a / 60))}${p2(a % 60)}`;
          assert.equal(parseClfTime(s), sec * 1000, s);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('parseClfTime date and zone cache', () => {
  const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  /** `sec` (epoch seconds) as logged by a server `off` minutes east of UTC. */
  const clf = (sec: number, off: number): string => {
    const local = new Date(sec * 1000 + off * 60_000);
    const a = Math.abs(off);
    return (
      `${p2(local.getUTCDate())}/${MON[local.getUTCMonth()]}/${local.getUTCFullYear()}:` +
      `${p2(local.getUTCHours())}:${p2(local.getUTCMinutes())}:${p2(local.getUTCSeconds())} ` +
      `${off < 0 ? '-' : '+'}${p2(Math.floor(a / 60))}${p2(a % 60)}`
    );
  };
  // A date and zone no generated line has: parsed just before a line, it leaves nothing cached for it.
  const RESET = '01/Jan/1900:00:00:00 +2359';
  const uncached = (s: string, start: number): number => {
    parseClfTime(RESET);
    return parseClfTime(s, start);
  };

  it('any sequence of lines (days, zones and midnights changing, malformed ones between) parses as each line alone', () => {
    const DAY = 86_400;
    const entry = fc.record({
      day: fc.integer({ min: 0, max: 3 }), // one of four consecutive days…
      sec: fc.integer({ min: -3 * 3600, max: 3 * 3600 }), // …around its midnight
      off: fc.constantFrom(0, 60, -300, 330, 345, -570, 840, -720),
      bracketed: fc.boolean(), // `[…]` read from 1, as parseTime does
      mutation: fc.option(fc.record({ at: fc.nat(40), ch: fc.constantFrom('0', '3', '9', '/', ':', ' ', '+', '-', 'x', ']', 'M', 'm') }), { freq: 4 }),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 45_000 }), fc.array(entry, { minLength: 1, maxLength: 40 }), (day0, entries) => {
        const lines = entries.map((e) => {
          const sec = (day0 + e.day) * DAY + e.sec;
          let s = clf(sec, e.off);
          if (e.mutation !== null) {
            const at = e.mutation.at % (s.length + 1);
            s = at === s.length ? s.slice(0, e.mutation.at % s.length) : s.slice(0, at) + e.mutation.ch + s.slice(at + 1);
          }
          return { s: e.bracketed ? `[${s}]` : s, start: e.bracketed ? 1 : 0, want: e.mutation === null ? sec * 1000 : undefined };
        });
        // In order, each line finding the cache as the previous one left it; then each alone.
        const got = lines.map((l) => parseClfTime(l.s, l.start));
        const alone = lines.map((l) => uncached(l.s, l.start));
        assert.deepEqual(got, alone);
        lines.forEach((l, i) => {
          if (l.want !== undefined) assert.equal(got[i], l.want, l.s);
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('an impossible date right after a cached possible one is still NaN, and back', () => {
    const seq = ['28/Feb/2015:23:59:59 +0000', '29/Feb/2015:00:00:00 +0000', '28/Feb/2015:23:59:59 +0000', '31/Apr/2015:10:00:00 +0000', '01/May/2015:00:00:00 +0000'];
    assert.deepEqual(
      seq.map((s) => parseClfTime(s)),
      [Date.UTC(2015, 1, 28, 23, 59, 59), NaN, Date.UTC(2015, 1, 28, 23, 59, 59), NaN, Date.UTC(2015, 4, 1)],
    );
  });

  it('starts empty: in a fresh module, a first time without a zone is UTC', async () => {
    // A query string makes another instance of the module, with its own (empty) cache.
    const url = new URL('../../services/fetcher/analyzers/time.js?fresh', import.meta.url).href;
    const fresh = (await import(url)) as typeof import('../../services/fetcher/analyzers/time.js');
    assert.equal(fresh.parseClfTime('17/May/2015:10:05:03'), T0);
    assert.equal(fresh.parseClfTime('17/May/2015:10:05:03 +0100'), T0 - 3_600_000);
  });

  it('a zone change on the same date, and a leap second, after a cache hit', () => {
    assert.equal(parseClfTime('17/May/2015:10:05:03 +0000'), T0);
    assert.equal(parseClfTime('17/May/2015:12:05:03 +02:00'), T0);
    assert.equal(parseClfTime('17/May/2015:10:05:03 +01'), T0 - 3_600_000);
    assert.equal(parseClfTime('17/May/2015:10:05:03 +01]'), NaN); // `+01` alone only at the end
    assert.equal(parseClfTime('17/May/2015:23:59:60 +0000'), Date.UTC(2015, 4, 18));
    assert.equal(parseClfTime('17/May/2015:10:05:03 +0000'), T0);
  });
});

describe('parseIsoTime', () => {
  const rows: Array<[string, number, string]> = [
    ['2015-05-17T10:05:03Z', T0, 'UTC with Z'],
    ['2015-05-17T10:05:03.123Z', T0 + 123, 'milliseconds'],
    ['2015-05-17T10:05:03.5Z', T0 + 500, 'one fraction digit is tenths'],
    ['2015-05-17T10:05:03.123456789Z', T0 + 123, 'nanoseconds truncated to ms'],
    ['2015-05-17T12:05:03+02:00', T0, 'offset with colon'],
    ['2015-05-17T12:05:03+0200', T0, 'offset without colon'],
    ['2015-05-17T07:05:03-03', T0, 'hour-only offset'],
    ['2015-05-17 10:05:03', T0, 'space separator, no zone: UTC (not local time)'],
    ['2015-05-17t10:05:03z', T0, 'lower-case t and z'],
    ['2015-05-17T10:05Z', T0 - 3000, 'no seconds'],
    ['2015-05-17', Date.UTC(2015, 4, 17), 'date only'],
    ['2015-02-30T00:00:00Z', NaN, 'impossible date'],
    ['2015-05-17T10:05:03.Z', NaN, 'dot without digits'],
    ['2015-05-17T10:05:03+02:00junk', NaN, 'trailing garbage'],
    ['2015/05/17 10:05:03', NaN, 'not ISO'],
    ['1431857103', NaN, 'a number is not ISO'],
  ];
  for (const [input, want, why] of rows) {
    it(`${why}: ${JSON.stringify(input)}`, () => assert.equal(parseIsoTime(input), want, `parseIsoTime(${JSON.stringify(input)})`));
  }

  it('agrees with Date.parse on any instant and offset (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_102_444_799_999 }),
        fc.integer({ min: -12 * 60, max: 14 * 60 }),
        (ms, off) => {
          // Date.parse is the slow, obviously right reference when the zone is explicit.
          const a = Math.abs(off);
          const zone = `${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
          const s = new Date(ms + off * 60_000).toISOString().replace('Z', zone);
          assert.equal(parseIsoTime(s), Date.parse(s), s);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('epoch and parseTime', () => {
  const rows: Array<[unknown, number, string]> = [
    [1431857103, T0, 'epoch seconds'],
    [1431857103.25, T0 + 250, 'fractional seconds'],
    [T0, T0, 'epoch ms'],
    [T0 * 1000, T0, 'epoch µs'],
    [T0 * 1e6, T0, 'epoch ns'],
    ['1431857103', T0, 'numeric string, seconds'],
    [String(T0), T0, 'numeric string, ms'],
    [' 1431857103 ', T0, 'numeric string with spaces'],
    ['1e9', NaN, 'exponent notation is not an epoch string'],
    ['0x10', NaN, 'hex is not an epoch string'],
    ['', NaN, 'empty string'],
    [Infinity, NaN, 'infinite'],
    ['[17/May/2015:10:05:03 +0000]', T0, 'bracketed CLF'],
    ['17/May/2015:10:05:03 +0000', T0, 'CLF'],
    ['2015-05-17T10:05:03Z', T0, 'ISO'],
    [new Date(T0), T0, 'a Date'],
    [null, NaN, 'null'],
    [{}, NaN, 'an object'],
  ];
  for (const [input, want, why] of rows) {
    it(`${why}: ${String(input)}`, () => assert.equal(parseTime(input), want, `parseTime(${String(input)})`));
  }
  it('epochToMs and parseEpoch agree on the boundary (1e11 is ms, below is seconds)', () => {
    assert.equal(epochToMs(99_999_999_999), 99_999_999_999_000);
    assert.equal(epochToMs(100_000_000_000), 100_000_000_000);
    assert.equal(parseEpoch('100000000000'), 100_000_000_000);
  });
});

// -------------------------------------------------------------------------------------------
// combined / common

const LINE1 =
  '83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 ' +
  '"http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"';

describe('combined', () => {
  it('parses all 10,000 lines of the Apache sample with the documented method counts', () => {
    const lines = readFileSync(APACHE_LOGS, 'utf8').split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 10_000);
    const methods: Record<string, number> = {};
    let min = Infinity;
    let max = -Infinity;
    for (const line of lines) {
      const r = combined(line);
      assert.ok(r, `combined() rejected ${line}`);
      assert.ok(Number.isFinite(r.ts), `bad ts in ${line}`);
      methods[r.method] = (methods[r.method] ?? 0) + 1;
      min = Math.min(min, r.ts);
      max = Math.max(max, r.ts);
    }
    assert.deepEqual(methods, { GET: 9952, HEAD: 42, POST: 5, OPTIONS: 1 });
    // The sample spans 83 hours from 17 May 2015 10:05:00 (its first line is 10:05:03: not in order).
    assert.equal(min, Date.UTC(2015, 4, 17, 10, 5, 0));
    assert.ok(max - min > 82 * 3_600_000 && max - min < 84 * 3_600_000, `span ${(max - min) / 3_600_000} h`);
  });

  it('outputs method, url as logged, ts, headers and fields', () => {
    assert.deepEqual(combined(LINE1), {
      ts: T0,
      method: 'GET',
      url: '/presentations/logstash-monitorama-2013/images/kibana-search.png',
      headers: {
        'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36',
        referer: 'http://semicomplete.com/presentations/logstash-monitorama-2013/',
      },
      fields: {
        remote_addr: '83.149.9.216',
        remote_user: '-',
        status: '200',
        bytes: '203023',
        referer: 'http://semicomplete.com/presentations/logstash-monitorama-2013/',
        user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36',
      },
    } satisfies ParsedRecord);
  });

  const head = '1.2.3.4 - bob [17/May/2015:10:05:03 +0000]';
  const rows: Array<[string, Partial<ParsedRecord> | undefined, string]> = [
    [`${head} "GET /a?b=1&c=%20 HTTP/1.1" 200 5 "-" "curl/8"`, { url: '/a?b=1&c=%20', headers: { 'user-agent': 'curl/8' } }, 'query kept verbatim, "-" referer dropped'],
    [`${head} "POST /x HTTP/1.0" 500 - "http://r/" "-"`, { method: 'POST', headers: { referer: 'http://r/' } }, 'bytes "-", "-" user agent dropped'],
    [`${head} "HEAD / HTTP/1.1" 304 0 "-" "-"`, { method: 'HEAD', headers: undefined }, 'no headers at all'],
    [`${head} "GET /old"  200 5 "-" "a"`.replace('  ', ' '), { url: '/old' }, 'HTTP/0.9 request line without protocol'],
    [`${head} "GET http://example.com/p?q HTTP/1.1" 200 5 "-" "a"`, { url: 'http://example.com/p?q' }, 'proxy request with absolute URL'],
    [`${head} "GET / HTTP/1.1" 200 5 "-" "say \\"hi\\" \\\\o/"`, { headers: { 'user-agent': 'say "hi" \\o/' } }, 'Apache escapes in the user agent undone'],
    [`${head} "GET / HTTP/1.1" 200 5 "-" "a\\x22b"`, { headers: { 'user-agent': 'a"b' } }, 'nginx \\x22 escape undone'],
    [`${head} "GET / HTTP/1.1" 200 5 "-" "Googlebot/2.1; +http://www.google.com/bot.html`, { headers: { 'user-agent': 'Googlebot/2.1; +http://www.google.com/bot.html' } }, 'truncated line: user agent without closing quote'],
    [`${head} "GET / HTTP/1.1" 200 5 "-" "a" 0.003 "upstream"`, { url: '/' }, 'extra nginx fields after the user agent'],
    [`${head} "GET / HTTP/1.1" 200 5 "-" "a"\r`, { url: '/' }, 'stray CR at the end'],
    [`${head} "-" 400 0 "-" "-"`, undefined, 'request "-" (connection closed before a request)'],
    [`${head} "\\x16\\x03\\x01\\x02" 400 0 "-" "-"`, undefined, 'TLS handshake on a plain port'],
    [`${head} "GET / HTTP/1.1" 200 5`, undefined, 'common line is not combined'],
    [`${head} "GET / HTTP/1.1" 2000 5 "-" "a"`, undefined, 'status of four digits'],
    ['1.2.3.4 - - 17/May/2015:10:05:03 "GET / HTTP/1.1" 200 5 "-" "a"', undefined, 'time without brackets'],
    ['{"url":"/","ts":1}', undefined, 'a JSON line'],
    ['garbage', undefined, 'garbage'],
  ];
  for (const [line, want, why] of rows) {
    it(why, () => {
      const got = combined(line);
      if (want === undefined) return assert.equal(got, undefined, `combined(${JSON.stringify(line)})`);
      assert.ok(got, `combined(${JSON.stringify(line)}) returned undefined`);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof ParsedRecord], v, `${k} of ${line}`);
    });
  }

  /** A record as the chain publishes it without hash_field. */
  const noFields = (r: ParsedRecord | null | undefined) => {
    if (!r) return r;
    const { fields: _f, ...rest } = r;
    return rest;
  };
  it('without fields (no hash_field): the same records, from a regex that captures less', () => {
    const lean = combinedAnalyzer(false);
    const sample = readFileSync(APACHE_LOGS, 'utf8').split('\n');
    const more = [`1.2.3.4 - - [17/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "a"`, `${head} "GET / HTTP/1.1" 200 5 "a\\\\b\\x5c" "x\\"y\\x5Cz"`];
    for (const line of [...rows.map((r) => r[0]), ...more, LINE1, ...sample]) assert.deepEqual(lean(line), noFields(combined(line)), line);
  });

  it('reports a bad time as ts NaN, not as another format', () => {
    const r = combined(`1.2.3.4 - - [17/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "a"`);
    assert.ok(r && Number.isNaN(r.ts));
  });
});

describe('common', () => {
  const rows: Array<[string, ParsedRecord | undefined, string]> = [
    [
      '127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
      { ts: Date.UTC(2000, 9, 10, 20, 55, 36), method: 'GET', url: '/apache_pb.gif', fields: { remote_addr: '127.0.0.1', remote_user: 'frank', status: '200', bytes: '2326' } },
      'the Apache documentation example',
    ],
    [
      '::1 - - [17/May/2015:10:05:03 +0000] "DELETE /items/7 HTTP/1.1" 204 -',
      { ts: T0, method: 'DELETE', url: '/items/7', fields: { remote_addr: '::1', remote_user: '-', status: '204', bytes: '-' } },
      'IPv6 client, no body',
    ],
    ['::1 - - [17/May/2015:10:05:03 +0000] "-" 408 -', undefined, 'request "-"'],
    ['::1 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1"', undefined, 'status and bytes missing'],
  ];
  for (const [line, want, why] of rows) {
    it(why, () => assert.deepEqual(common(line), want, `common(${JSON.stringify(line)})`));
  }
  it('without fields (no hash_field): the same records', () => {
    const lean = commonAnalyzer(false);
    const sample = readFileSync(APACHE_LOGS, 'utf8').split('\n');
    for (const line of [...rows.map((r) => r[0]), LINE1, ...sample]) {
      const full = common(line);
      if (full) delete full.fields;
      assert.deepEqual(lean(line), full, line);
    }
  });
  it('accepts a combined line, ignoring referer and user agent (so chains put combined first)', () => {
    const r = common(LINE1);
    assert.ok(r);
    assert.equal(r.headers, undefined);
    assert.equal(r.url, '/presentations/logstash-monitorama-2013/images/kibana-search.png');
  });
});

// -------------------------------------------------------------------------------------------
// jsonl

describe('jsonl', () => {
  const plain = jsonlAnalyzer();
  const nested = jsonlAnalyzer({ ts: '@timestamp', method: 'request.method', url: 'request.url', headers: 'request.headers', body: 'request.body' });
  const rows: Array<[ReturnType<typeof jsonlAnalyzer>, string, ParsedRecord | undefined | 'NaN', string]> = [
    [plain, '{"ts":1431857103,"url":"/a"}', { ts: T0, method: 'GET', url: '/a' }, 'epoch seconds, method defaults to GET'],
    [plain, `{"ts":${T0},"method":"post","url":"/a","body":"x=1"}`, { ts: T0, method: 'POST', url: '/a', body: 'x=1' }, 'epoch ms, method upper-cased, string body'],
    [plain, '{"ts":"1431857103","url":"/a"}', { ts: T0, method: 'GET', url: '/a' }, 'epoch as a numeric string'],
    [plain, '{"ts":"2015-05-17T12:05:03+02:00","url":"/a","body":{"k":[1,2]}}', { ts: T0, method: 'GET', url: '/a', body: '{"k":[1,2]}' }, 'ISO time, object body stringified'],
    [
      plain,
      '{"ts":1431857103,"url":"/a","headers":{"X-Id":"7","Accept":["a","b"],"N":1,"O":{}},"user":"u1","status":200,"ok":true,"tags":["x"]}',
      { ts: T0, method: 'GET', url: '/a', headers: { 'x-id': '7', accept: 'a, b', n: '1' }, fields: { user: 'u1', status: '200', ok: 'true' } },
      'headers lower-cased and stringified; other top-level scalars become fields',
    ],
    [
      nested,
      '{"@timestamp":"2015-05-17T10:05:03Z","request":{"method":"PUT","url":"/n?x=1","headers":{"Host":"h"},"body":"b"},"client":"c"}',
      { ts: T0, method: 'PUT', url: '/n?x=1', headers: { host: 'h' }, body: 'b', fields: { client: 'c' } },
      'nested paths',
    ],
    [nested, '{"@timestamp":1431857103,"request.url":"/flat"}', { ts: T0, method: 'GET', url: '/flat' }, 'a flat key with a dot wins over nesting'],
    [plain, '{"ts":"yesterday","url":"/a"}', 'NaN', 'unreadable ts: record with ts NaN (reported as bad timestamp)'],
    [plain, '{"url":"/a"}', undefined, 'no ts'],
    [plain, '{"ts":1431857103}', undefined, 'no url'],
    [plain, '{"ts":1431857103,"url":7}', undefined, 'url not a string'],
    [plain, '[1,2]', undefined, 'an array, not an object'],
    [plain, '{"ts":1431857103,"url":"/a"', undefined, 'truncated JSON'],
    [plain, LINE1, undefined, 'an Apache line'],
  ];
  for (const [an, line, want, why] of rows) {
    it(why, () => {
      const got = an(line);
      if (want === 'NaN') return assert.ok(got && Number.isNaN(got.ts), `ts of ${line}`);
      assert.deepEqual(got, want, `jsonl(${line})`);
    });
  }
});

describe('jsonl without fields, and headers used as parsed', () => {
  const lines = [
    '{"ts":1431857103,"url":"/a","headers":{"x-id":"7","accept":"a"},"user":"u1","status":200}',
    '{"ts":1431857103,"url":"/a","headers":{"X-Id":"7","Accept":["a","b"],"N":1}}',
    '{"ts":1431857103,"url":"/a","headers":{}}',
    '{"ts":1431857103,"url":"/a","headers":{"__proto__":"x","a":"b"}}',
    '{"ts":1431857103,"url":"/a","headers":{"a":"b","n":1}}',
    '{"ts":1431857103,"url":"/a","headers":{"é":"b"}}',
    '{"ts":1431857103,"url":"/a","headers":"{\\"a\\":\\"b\\"}"}',
    '{"ts":"soon","url":"/a"}',
    '{"url":"/a"}',
  ];
  it('headers: lower-case string ones as they are, others copied as before; empty is none', () => {
    const an = jsonlAnalyzer();
    assert.deepEqual(an(lines[0])?.headers, { 'x-id': '7', accept: 'a' });
    assert.deepEqual(an(lines[1])?.headers, { 'x-id': '7', accept: 'a, b', n: '1' });
    assert.equal(an(lines[2])?.headers, undefined);
    const proto = an(lines[3])?.headers;
    assert.deepEqual(proto, { a: 'b' });
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.deepEqual(an(lines[4])?.headers, { a: 'b', n: '1' });
    assert.deepEqual(an(lines[5])?.headers, { é: 'b' });
    assert.deepEqual(an(lines[6])?.headers, { a: 'b' });
  });
  it('withFields false: the same records without fields', () => {
    const full = jsonlAnalyzer();
    const lean = jsonlAnalyzer({}, 'raw', false);
    for (const line of lines) {
      const want = full(line);
      if (want) delete want.fields;
      assert.deepEqual(lean(line), want, line);
    }
  });
});

describe('case helpers', () => {
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('GET', 'get', 'Post', 'ß', 'ǅ', 'İ', 'user-agent', 'X-Id'));
  it('upperCase is toUpperCase', () => {
    fc.assert(fc.property(text, (s) => assert.equal(upperCase(s), s.toUpperCase())), { numRuns: 2000 });
  });
  it('isLowerAscii: only for strings toLowerCase leaves as they are', () => {
    fc.assert(fc.property(text, (s) => assert.ok(!isLowerAscii(s) || s.toLowerCase() === s, s)), { numRuns: 2000 });
    assert.ok(isLowerAscii('user-agent'));
    assert.ok(!isLowerAscii('User-Agent'));
  });
});

// -------------------------------------------------------------------------------------------
// user modules

describe('loadAnalyzerModule', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'havok-analyzers-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const mod = async (name: string, src: string) => {
    const p = join(dir, name);
    await writeFile(p, src);
    return p;
  };
  const A = `(line) => line.startsWith('A ') ? { ts: 1431857103000, method: 'GET', url: line.slice(2) } : undefined`;

  const shapes: Array<[string, string, number, string]> = [
    ['default-fn.mjs', `export default ${A};`, 1, 'export default a function'],
    ['default-arr.mjs', `export default [${A}, () => undefined];`, 2, 'export default an array'],
    ['analyzers.mjs', `export const analyzers = [${A}];`, 1, 'export const analyzers'],
    ['analyze.mjs', `export function analyze(line) { return (${A})(line); }`, 1, 'export function analyze'],
    ['cjs.cjs', `module.exports = { analyze: ${A} };`, 1, 'CommonJS module.exports.analyze'],
  ];
  for (const [file, src, n, why] of shapes) {
    it(why, async () => {
      const fns = await loadAnalyzerModule(await mod(file, src));
      assert.equal(fns.length, n);
      assert.deepEqual(fns[0]('A /x'), { ts: 1431857103000, method: 'GET', url: '/x' });
    });
  }

  const failures: Array<[string, string, RegExp, string]> = [
    ['none.mjs', 'export const x = 1;', /analyzer\.module: .*none\.mjs has no analyzers: it exports none of them \(exports: x\)/, 'no analyzer exported'],
    ['notfn.mjs', 'export const analyzers = [1];', /notfn\.mjs has no analyzers: `analyzers`\[0\] is number/, 'a non-function in the array'],
    ['syntax.mjs', 'export default (', /analyzer\.module: cannot load .*syntax\.mjs/, 'a syntax error'],
    ['throws.mjs', 'throw new Error("boom");', /cannot load .*throws\.mjs: boom/, 'the module throws while loading'],
  ];
  for (const [file, src, re, why] of failures) {
    it(`fails clearly: ${why}`, async () => {
      await assert.rejects(loadAnalyzerModule(await mod(file, src)), (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, re);
        return true;
      });
    });
  }
  it('fails clearly: a missing file', async () => {
    await assert.rejects(loadAnalyzerModule(join(dir, 'absent.mjs')), /analyzer\.module: cannot load .*absent\.mjs/);
  });

  it('runs before the built-ins in a chain', async () => {
    const fns = await loadAnalyzerModule(await mod('chain.mjs', `export default ${A};`));
    const chain = buildChain({ format: 'combined', module: fns });
    assert.deepEqual(chain.analyze('A /mine'), { ok: true, rec: { ts: 1431857103000, method: 'GET', url: '/mine' } });
    assert.equal(chain.analyze(LINE1).ok, true); // falls through to combined
  });
});

// -------------------------------------------------------------------------------------------
// chain

describe('buildChain', () => {
  const jsonLine = '{"ts":1431857103,"url":"/j","user":"u1","headers":{"X-Tenant":"t9"}}';
  const commonLine = '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /c HTTP/1.0" 200 2326';

  it('drops fields and sets key from a field', () => {
    const chain = buildChain({ format: 'combined', hashField: 'remote_addr' });
    const r = chain.analyze(LINE1);
    assert.ok(r.ok);
    assert.equal(r.rec.key, '83.149.9.216');
    assert.equal('fields' in r.rec, false);
    assert.equal(r.rec.ts, T0);
  });

  const keyRows: Array<[string, string, string | undefined, string]> = [
    ['user', jsonLine, 'u1', 'a jsonl extra field'],
    ['X-Tenant', jsonLine, 't9', 'a header, looked up lower-cased'],
    ['url', jsonLine, '/j', 'the record url'],
    ['absent', jsonLine, undefined, 'a field nobody has: no key (round-robin)'],
  ];
  for (const [hashField, line, want, why] of keyRows) {
    it(`key: ${why}`, () => {
      const r = buildChain({ format: 'jsonl', hashField }).analyze(line);
      assert.ok(r.ok);
      assert.equal(r.rec.key, want);
      assert.equal('key' in r.rec, want !== undefined, 'an absent key is not written as undefined');
    });
  }

  const rows: Array<[Parameters<typeof buildChain>[0], string, string, string]> = [
    [{ format: 'combined' }, '', 'empty line', 'empty line'],
    [{ format: 'combined' }, ' \t ', 'empty line', 'whitespace only'],
    [{ format: 'combined' }, 'garbage', 'no analyzer matched (tried combined)', 'garbage names the analyzers tried'],
    [{ format: 'combined' }, `1.2.3.4 - - [17/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "a"`, 'bad timestamp', 'a matching line with a bad time'],
    [{ format: 'jsonl' }, '{"ts":"soon","url":"/"}', 'bad timestamp', 'jsonl with an unreadable ts'],
    [{ format: 'combined', handler: ['combined', 'common', 'jsonl'] }, 'x', 'no analyzer matched (tried combined, common, jsonl)', 'handler list replaces format'],
  ];
  for (const [opts, line, reason, why] of rows) {
    it(`rejects: ${why}`, () => assert.deepEqual(buildChain(opts).analyze(line), { ok: false, filtered: false, reason }));
  }

  it('handler list: first match wins, in order', () => {
    const chain = buildChain({ format: 'combined', handler: ['combined', 'common', 'jsonl'] });
    const a = chain.analyze(LINE1);
    const b = chain.analyze(commonLine);
    const c = chain.analyze(jsonLine);
    assert.ok(a.ok && b.ok && c.ok);
    assert.ok(a.rec.headers, 'combined won over common for a combined line');
    assert.equal(b.rec.url, '/c');
    assert.equal(c.rec.url, '/j');
  });

  it('unknown handler name: error names analyzer.handler and the valid names', () => {
    assert.throws(
      () => buildChain({ format: 'combined', handler: ['combined', 'apache'] }),
      (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, /^analyzer\.handler: unknown analyzer "apache"; valid names: combined, common, jsonl, nginx, regex$/);
        return true;
      },
    );
  });

  it('user analyzers: null filters, throwing or malformed output is a reasoned failure, string ts converted', () => {
    const skipHealth = (l: string) => (l.includes('/health') ? null : undefined);
    const boom = (l: string) => {
      if (l === 'boom') throw new Error('kaput');
      return undefined;
    };
    const sloppy = (l: string) => (l === 'sloppy' ? ({ ts: 1, method: 'GET' } as unknown as ParsedRecord) : undefined);
    const isoTs = (l: string) => (l === 'iso' ? ({ ts: '2015-05-17T10:05:03Z', method: 'GET', url: '/i' } as unknown as ParsedRecord) : undefined);
    const chain = buildChain({ format: 'combined', module: [skipHealth, boom, sloppy, isoTs] });
    assert.deepEqual(chain.analyze('GET /health'), { ok: false, filtered: true });
    assert.deepEqual(chain.analyze('boom'), { ok: false, filtered: false, reason: 'analyzer boom threw: kaput' });
    assert.deepEqual(chain.analyze('sloppy'), { ok: false, filtered: false, reason: 'analyzer sloppy returned a record without a url string' });
    assert.deepEqual(chain.analyze('iso'), { ok: true, rec: { ts: T0, method: 'GET', url: '/i' } });
  });

  it('accounting closes over the sample: every line is a record, filtered, or a reasoned failure', () => {
    const lines = readFileSync(APACHE_LOGS, 'utf8').split('\n');
    const chain = buildChain({ format: 'combined', module: [(l) => (l.includes('"HEAD ') ? null : undefined)] });
    let ok = 0;
    let filtered = 0;
    let failed = 0;
    for (const l of lines) {
      const r = chain.analyze(l);
      if (r.ok) ok++;
      else if (r.filtered) filtered++;
      else failed++;
    }
    // The file ends with a newline, so split() gives one trailing empty line.
    assert.deepEqual({ ok, filtered, failed }, { ok: 10_000 - 42, filtered: 42, failed: 1 });
  });
});
