import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeBody, unescapeNginx } from '../../services/fetcher/analyzers/body.js';
import { buildChain, type ChainResult } from '../../services/fetcher/analyzers/chain.js';
import { combined } from '../../services/fetcher/analyzers/combined.js';
import { jsonlAnalyzer } from '../../services/fetcher/analyzers/jsonl.js';
import { compileNginxFormat } from '../../services/fetcher/analyzers/nginx.js';
import { regexAnalyzer, unnameGroups } from '../../services/fetcher/analyzers/regex.js';
import type { ParsedRecord } from '../../services/fetcher/analyzers/types.js';
import { chainFor } from '../../services/fetcher/source.js';
import { buildRequest, compileRules } from '../../services/replayer/request.js';
import { loadConfig, NGINX_COMBINED, type LoadOptions } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { shardFor } from '../../shared/hash.js';
import type { LogRecord } from '../../shared/protocol.js';

// From dist*/test/unit/ up to the repository.
const APACHE_LOGS = fileURLToPath(new URL('../../../examples/data/apache_logs', import.meta.url));

const T0 = Date.UTC(2015, 4, 17, 10, 5, 3); // 17/May/2015:10:05:03 +0000
const UA = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0';

/** The acceptance format: nginx combined plus request time and a user id header. */
const CUSTOM =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time "$http_x_user_id"';

/** Runs fn, expecting a ConfigError; returns its issues. */
function configIssues(fn: () => unknown): ReadonlyArray<{ key: string; message: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

/** `rec` has at least `want`'s properties (fields compared as a subset too). */
function assertRecord(rec: ParsedRecord | null | undefined, want: Partial<ParsedRecord>, why: string): void {
  assert.ok(rec, `${why}: no record`);
  const { fields, ...rest } = want;
  for (const [k, v] of Object.entries(rest)) assert.deepEqual(rec[k as keyof ParsedRecord], v, `${why}: ${k}`);
  for (const [k, v] of Object.entries(fields ?? {})) assert.equal(rec.fields?.[k], v, `${why}: fields.${k}`);
  if (!('headers' in want)) return;
  assert.deepEqual(rec.headers, want.headers, `${why}: headers`);
}

// -------------------------------------------------------------------------------------------
// nginx log_format

// First in the file: a job compiles one format, so measure before the tables below have run many
// formats' analyzers through the same (then megamorphic) code.
describe('nginx analyzer throughput', () => {
  it('measures lines/s against the hand-written combined analyzer', (t) => {
    const lines = readFileSync(APACHE_LOGS, 'utf8').split('\n').filter((l) => l !== '');
    const nginx = compileNginxFormat(NGINX_COMBINED);
    const rate = (fn: (l: string) => unknown): number => {
      const t0 = performance.now();
      for (const l of lines) fn(l);
      return lines.length / ((performance.now() - t0) / 1000);
    };
    // Interleaved rounds, so load from other processes hits both alike; the median ratio is the figure.
    for (let i = 0; i < 10; i++) {
      rate(combined); // warm-up
      rate(nginx);
    }
    const rounds = Array.from({ length: 40 }, () => {
      const c = rate(combined);
      return { c, n: rate(nginx) };
    });
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1];
    const ratio = median(rounds.map((r) => r.n / r.c));
    const fmt = (x: number): string => Math.round(x).toLocaleString('en');
    t.diagnostic(
      `best of 40 rounds × 10,000 lines: combined ${fmt(Math.max(...rounds.map((r) => r.c)))} lines/s, ` +
        `nginx (combined log_format) ${fmt(Math.max(...rounds.map((r) => r.n)))} lines/s; median ratio ${(ratio * 100).toFixed(0)}%`,
    );
    // Loose: catches a pathological regex (backtracking), not machine noise.
    assert.ok(ratio > 0.25, `nginx runs at ${(ratio * 100).toFixed(0)}% of combined`);
  });
});

describe('compileNginxFormat', () => {
  const rows: Array<[string, string, Partial<ParsedRecord> | undefined, string]> = [
    [
      CUSTOM,
      `10.0.0.1 - - [17/May/2015:10:05:03 +0000] "POST /api/cart?x=1 HTTP/1.1" 201 12 "-" "${UA}" 0.042 "u-17"`,
      {
        ts: T0,
        method: 'POST',
        url: '/api/cart?x=1',
        headers: { 'user-agent': UA, 'x-user-id': 'u-17' },
        fields: { request_time: '0.042', http_x_user_id: 'u-17', status: '201', remote_addr: '10.0.0.1', http_referer: '-' },
      },
      'custom format: $request_time and $http_x_user_id (referer "-" sends no header)',
    ],
    [
      CUSTOM,
      `10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 12 "-" "${UA}" 0.042 "-"`,
      { url: '/', headers: { 'user-agent': UA }, fields: { http_x_user_id: '-' } },
      'custom format: no user id header',
    ],
    [
      '$time_iso8601 $request_method $scheme://$host$request_uri $status',
      '2015-05-17T12:05:03+02:00 PUT https://shop.example/items/7?v=2 204',
      { ts: T0, method: 'PUT', url: '/items/7?v=2', fields: { host: 'shop.example', scheme: 'https', status: '204' } },
      '$time_iso8601, $request_method, $request_uri; adjacent variables and "://" between them',
    ],
    [
      '$msec ${request_method} ${uri} $args',
      '1431857103.123 GET /search q=a&page=2',
      { ts: T0 + 123, method: 'GET', url: '/search?q=a&page=2' },
      '$msec with milliseconds, ${name} syntax, $uri + $args',
    ],
    [
      '$msec $request_method $uri $args',
      '1431857103.123 GET /search -',
      { url: '/search' },
      '$args "-" adds no query',
    ],
    [
      '$msec "$request_method $scheme://$http_host$uri$is_args$args"',
      '1431857103 "GET https://h.example:8443/s?a=1&b=2"',
      { method: 'GET', url: '/s?a=1&b=2', fields: { http_host: 'h.example:8443', host: 'h.example:8443', is_args: '?', args: 'a=1&b=2' } },
      '$http_host$uri$is_args$args: adjacent variables split by their shapes',
    ],
    [
      '$msec "$request_method $uri$is_args$args"',
      '1431857103 "GET /plain"',
      { url: '/plain', fields: { uri: '/plain', is_args: '', args: '' } },
      '$uri$is_args$args without a query',
    ],
    [
      '$remote_addr:$remote_port [$time_local] "$request" $host',
      '::1:8080 [17/May/2015:10:05:03 +0000] "GET /v6 HTTP/2.0" api.example',
      { url: '/v6', fields: { remote_addr: '::1', remote_port: '8080', host: 'api.example' } },
      'a ":" after an unquoted variable: the last one before the port is the boundary',
    ],
    [
      '$time_local "$request" "$http_user_agent" $http_host',
      `17/May/2015:10:05:03 +0000 "GET /q HTTP/1.1" "say \\x22hi\\x22 \\x5C o/" h.example`,
      { ts: T0, url: '/q', headers: { 'user-agent': 'say "hi" \\ o/', host: 'h.example' }, fields: { host: 'h.example', user_agent: 'say "hi" \\ o/' } },
      'unbracketed $time_local (with its space); \\x22 and \\x5C undone in a quoted header; $http_host is fields.host',
    ],
    [
      '[$time_local] "$request" "$request_body" $content_type',
      `[17/May/2015:10:05:03 +0000] "POST /form HTTP/1.1" "{\\x22name\\x22:\\x22J\\xC3\\xBCrgen\\x22}" application/json`,
      { method: 'POST', body: '{"name":"Jürgen"}', headers: { 'content-type': 'application/json' } },
      '$request_body: \\xHH bytes decoded as UTF-8; $content_type is a header',
    ],
    [
      '[$time_local] "$request" "$request_body"',
      '[17/May/2015:10:05:03 +0000] "POST /bin HTTP/1.1" "\\x00\\xFF\\x80"',
      { body: Buffer.from([0, 0xff, 0x80]) },
      '$request_body that is not UTF-8 stays bytes',
    ],
    [
      '[$time_local] "$request" "$request_body"',
      '[17/May/2015:10:05:03 +0000] "POST /j HTTP/1.1" "{\\"a\\":\\"\\u00e9\\n\\"}"',
      { body: '{"a":"é\n"}' },
      '$request_body written with escape=json',
    ],
    [
      '[$time_local] "$request" "$request_body"',
      '[17/May/2015:10:05:03 +0000] "GET /empty HTTP/1.1" "-"',
      { url: '/empty', body: undefined },
      '$request_body "-" is no body',
    ],
    [
      '[$time_local] "$request" "$http_user_agent"',
      '[17/May/2015:10:05:03 +0000] "GET /cut HTTP/1.1" "Mozilla/5.0 (trunc',
      { url: '/cut', headers: { 'user-agent': 'Mozilla/5.0 (trunc' } },
      'a last quoted field without its closing quote (truncated line)',
    ],
    [
      '[$time_local] "$request" $status',
      '[17/May/2015:10:05:03 +0000] "GET /extra HTTP/1.1" 200 0.001 upstream=a',
      { url: '/extra', fields: { status: '200' } },
      'fields appended after the format still parse (prefix match)',
    ],
    [
      '[$time_local] "$request" $status',
      '[17/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200',
      { ts: NaN },
      'an unreadable time is ts NaN (the chain says bad timestamp)',
    ],
    ['[$time_local] "$request" $status', '[17/May/2015:10:05:03 +0000] "-" 400', undefined, 'a request of "-" is not a record'],
    ['$remote_user [$time_local] "$request"', 'john smith [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1"', undefined, 'an unquoted variable has no spaces'],
    ['[$time_local] "$request" $status', '{"ts":1,"url":"/"}', undefined, 'another format'],
  ];
  for (const [format, line, want, why] of rows) {
    it(why, () => {
      const rec = compileNginxFormat(format)(line);
      if (want === undefined) assert.equal(rec, undefined);
      else assertRecord(rec, want, why);
    });
  }

  it('without fields (no hash_field): the same records, from a regex that captures only what they read', () => {
    const sample = readFileSync(APACHE_LOGS, 'utf8').split('\n');
    const cases: Array<[string, string]> = [...rows.map(([format, line]): [string, string] => [format, line]), ...sample.map((l): [string, string] => [NGINX_COMBINED, l])];
    for (const [format, line] of cases) {
      const full = compileNginxFormat(format)(line);
      if (full) delete full.fields;
      assert.deepEqual(compileNginxFormat(format, { withFields: false })(line), full, `${format}: ${line}`);
    }
  });

  it('defaults to nginx combined and reads the whole sample exactly as the combined analyzer does', () => {
    const lines = readFileSync(APACHE_LOGS, 'utf8').split('\n');
    const nginx = compileNginxFormat();
    let parsed = 0;
    for (const [i, line] of lines.entries()) {
      const a = combined(line);
      const b = nginx(line);
      if (a === undefined) {
        assert.equal(b, undefined, `line ${i + 1}: combined rejects it, nginx does not`);
        continue;
      }
      assert.ok(a && b, `line ${i + 1}: nginx rejects a combined line`);
      parsed++;
      const { fields: fa, ...ra } = a;
      const { fields: fb, ...rb } = b;
      assert.deepEqual(rb, ra, `line ${i + 1}`);
      // The combined analyzer's field names are there too, so a hash_field means the same.
      for (const [k, v] of Object.entries(fa ?? {})) assert.equal(fb?.[k], v, `line ${i + 1}: fields.${k}`);
    }
    assert.equal(parsed, 10_000);
    // And through a chain (what the fetcher publishes), keyed by a field.
    const cc = buildChain({ format: 'combined', hashField: 'remote_addr' });
    const cn = buildChain({ format: 'nginx', logFormat: NGINX_COMBINED, hashField: 'remote_addr' });
    for (const line of lines) assert.deepEqual(cn.analyze(line), cc.analyze(line));
  });

  const bad: Array<[string, RegExp, string]> = [
    ['$remote_addr "$request"', /needs a time: \$time_local, \$time_iso8601 or \$msec/, 'no time variable'],
    ['$msec $status $body_bytes_sent', /needs a URL: \$request, \$request_uri or \$uri/, 'no URL variable'],
    ['just text', /needs a time.*; needs a URL/, 'no variables at all'],
  ];
  for (const [format, message, why] of bad) {
    it(`rejects a format with ${why}, naming fetcher.file.log_format`, () => {
      const issues = configIssues(() => compileNginxFormat(format));
      assert.equal(issues.length, 1);
      assert.equal(issues[0].key, 'fetcher.file.log_format');
      assert.match(issues[0].message, message);
      assert.ok(issues[0].message.includes(JSON.stringify(format)), 'the message quotes the format');
    });
  }
});

// -------------------------------------------------------------------------------------------
// acceptance: custom log_format, hash_field = the user id, routing by user

describe('routing by $http_x_user_id (issue 6 acceptance)', () => {
  const REPLAYERS = ['replayer-a', 'replayer-b', 'replayer-c', 'replayer-d'];
  const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  // 400 lines, users interleaved, varying paths, methods and request times.
  const lines = Array.from({ length: 400 }, (_, i) => {
    const user = users[(i * 7) % users.length];
    const sec = String(i % 60).padStart(2, '0');
    const method = i % 3 === 0 ? 'POST' : 'GET';
    return `10.1.${i % 5}.${i % 250} - - [17/May/2015:10:06:${sec} +0000] "${method} /items/${i}?ref=${i % 4} HTTP/1.1" 200 ${i * 3} "-" "${UA}" ${(i / 1000).toFixed(3)} "${user}"`;
  });

  for (const hashField of ['http_x_user_id', 'x-user-id', 'X-User-Id']) {
    it(`hash_field = "${hashField}": every record keyed by its user, each user on one replayer`, () => {
      const chain = buildChain({ format: 'nginx', logFormat: CUSTOM, hashField });
      const owner = new Map<string, Set<string>>();
      for (const [i, line] of lines.entries()) {
        const r = chain.analyze(line);
        assert.ok(r.ok, `line ${i}: ${JSON.stringify(r)}`);
        const user = users[(i * 7) % users.length];
        assert.equal(r.rec.key, user);
        assert.equal(r.rec.headers?.['x-user-id'], user, 'the header is replayed too');
        const replayer = shardFor(r.rec.key!, REPLAYERS);
        (owner.get(user) ?? owner.set(user, new Set()).get(user)!).add(replayer);
      }
      assert.equal(owner.size, users.length);
      for (const [user, set] of owner) assert.equal(set.size, 1, `${user} went to ${[...set].join(', ')}`);
      const used = new Set([...owner.values()].map((s) => [...s][0]));
      assert.ok(used.size > 1, 'users spread over several replayers');
    });
  }

  it('request_time is parsed; a line without a user id has no key (round-robin, not all on one replayer)', () => {
    const rec = compileNginxFormat(CUSTOM)(lines[5]);
    assert.equal(rec?.fields?.request_time, '0.005');
    const anon = lines[5].replace(/"user-\d+"$/, '"-"');
    for (const hashField of ['http_x_user_id', 'x-user-id']) {
      const r = buildChain({ format: 'nginx', logFormat: CUSTOM, hashField }).analyze(anon);
      assert.ok(r.ok);
      assert.equal('key' in r.rec, false, hashField);
    }
  });
});

describe('chain without hash_field (its short path)', () => {
  it('gives what the general path gives, for every built-in and every kind of line', () => {
    const sample = readFileSync(APACHE_LOGS, 'utf8').split('\n').slice(0, 500);
    const lines = [
      ...sample,
      '',
      '   ',
      'garbage',
      '1.2.3.4 - - [17/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "a"',
      '[17/May/2015:10:05:03 +0000] "POST /b HTTP/1.1" "!!notbase64!!"',
      '[17/May/2015:10:05:03 +0000] "POST /b HTTP/1.1" "aGk="',
      '{"ts":1431857103,"method":"post","url":"/j","headers":{"A":"b"},"user":"u1"}',
      '{"ts":"soon","url":"/j"}',
      'ts=1431857103 get /r acme',
    ];
    const configs = [
      { format: 'combined' },
      { format: 'common' },
      { format: 'jsonl' },
      { format: 'nginx', logFormat: '[$time_local] "$request" "$request_body"', bodyEncoding: 'base64' },
      { format: 'nginx', logFormat: NGINX_COMBINED },
      { format: 'regex', regex: String.raw`^ts=(?<ts>\S+) (?<method>\S+) (?<url>\S+) (?<tenant>\S+)` },
    ] as const;
    for (const c of configs) {
      const short = buildChain(c);
      // A hash_field no record has: the general path, with fields built and dropped, and no key.
      const general = buildChain({ ...c, hashField: 'no_such_field' });
      for (const line of lines) assert.deepEqual(short.analyze(line), general.analyze(line), `${c.format}: ${line}`);
    }
  });
});

// -------------------------------------------------------------------------------------------
// regex

describe('regexAnalyzer', () => {
  const HAProxyLike = String.raw`^(?<client>\S+) \[(?<ts>[^\]]+)\] (?<method>\w+) (?<url>\S+) (?<status>\d+) uid=(?<header_x_user_id>\S+)(?: body=(?<body>\S+))?`;
  const rows: Array<[string, string, Partial<ParsedRecord> | undefined, string]> = [
    [
      HAProxyLike,
      '10.0.0.9 [17/May/2015:10:05:03 +0000] post /orders 201 uid=u9 body={"n":1}',
      { ts: T0, method: 'POST', url: '/orders', headers: { 'x-user-id': 'u9' }, body: '{"n":1}', fields: { client: '10.0.0.9', status: '201', header_x_user_id: 'u9' } },
      'CLF time, method upper-cased, header_<name>, body, other groups to fields',
    ],
    [HAProxyLike, '10.0.0.9 [17/May/2015:10:05:03 +0000] GET /a 200 uid=-', { url: '/a', headers: undefined, body: undefined }, 'a "-" header value and an absent optional body group'],
    [
      String.raw`(?<ts>\S+) (?<method>\S+) (?<url>\S+)`,
      '2015-05-17T10:05:03.250Z DELETE /x/1',
      { ts: T0 + 250, method: 'DELETE', url: '/x/1', fields: undefined },
      'ISO time, unanchored pattern, no extra groups: no fields',
    ],
    [String.raw`ts=(?<ts>\d+) (?<method>\S+) (?<url>\S+)`, 'ts=1431857103 GET /epoch', { ts: T0 }, 'epoch seconds'],
    [String.raw`ts=(?<ts>\d+) (?<method>\S+) (?<url>\S+)`, 'something else', undefined, 'no match: not this format'],
    [String.raw`ts=(?<ts>\S+) (?<method>\S+) (?<url>\S*)`, 'ts=1431857103 GET ', undefined, 'an empty url: not a record'],
    [String.raw`ts=(?<ts>\S+) (?<method>\S+) (?<url>\S+)`, 'ts=soon GET /late', { ts: NaN }, 'an unreadable time: ts NaN'],
  ];
  for (const [pattern, line, want, why] of rows) {
    it(why, () => {
      const rec = regexAnalyzer(pattern)(line);
      if (want === undefined) assert.equal(rec, undefined);
      else assertRecord(rec, want, why);
    });
  }

  it('reads groups by number from a rewritten pattern: the same values as `groups`', () => {
    const cases: Array<[string, string]> = [
      [HAProxyLike, '10.0.0.9 [17/May/2015:10:05:03 +0000] post /orders 201 uid=u9 body={"n":1}'],
      [String.raw`^(\S+) (?<ts>\[[^\]]+\]) "(?<method>\w+) (?<url>[^ "]+)(?: (HTTP)/[\d.]+)?"`, '1.2.3.4 [17/May/2015:10:05:03 +0000] "GET /x HTTP/1.1"'],
      [String.raw`(?<=^\S+ )(?<ts>\S+) (?<method>[A-Z]+) (?!x)(?<url>\S+)`, 'host 1431857103 GET /y'],
      [String.raw`^(?<ts>[^(\]]+) [(](?<method>\w+)[)] (?<url>\S+)(?:[\](?<no>)])?`, '1431857103 (PUT) /z'],
      [String.raw`^\((?<ts>\d+)\) (?<method>\w+) (?<url>\S+)`, '(1431857103) GET /w'],
      [String.raw`^(?<q>["'])(?<ts>\d+)\1 (?<method>\w+) (?<url>\S+)`, `'1431857103' GET /v`],
    ];
    for (const [pattern, line] of cases) {
      const u = unnameGroups(pattern);
      assert.ok(u, pattern);
      const g = new RegExp(pattern).exec(line)?.groups;
      const m = new RegExp(u.source).exec(line);
      assert.ok(g && m, `${pattern} matches ${line}`);
      for (const [name, i] of u.index) assert.equal(m[i], g[name], `${pattern}: group ${name}`);
      assert.deepEqual([...u.index.keys()], Object.keys(g));
    }
  });

  it('leaves a pattern it cannot rewrite as written (\\k<name>, names it does not read), with the same records', () => {
    const line = '10.0.0.9 [17/May/2015:10:05:03 +0000] post /orders 201 uid=u9 body={"n":1}';
    // `(?:\k<url>)?` matches nothing more here, but only a pattern with its names may say it.
    const backref = `${HAProxyLike}(?:\\k<url>)?`;
    const unicode = HAProxyLike.replace('(?<client>', '(?<clïent>');
    assert.equal(unnameGroups(backref), undefined);
    assert.equal(unnameGroups(unicode), undefined);
    assert.deepEqual(regexAnalyzer(backref)(line), regexAnalyzer(HAProxyLike)(line));
    const { fields, ...rest } = regexAnalyzer(unicode)(line) as ParsedRecord;
    const { fields: want, ...wantRest } = regexAnalyzer(HAProxyLike)(line) as ParsedRecord;
    assert.deepEqual(rest, wantRest);
    assert.deepEqual(fields, { clïent: want?.client, status: want?.status, header_x_user_id: want?.header_x_user_id });
    for (const [pattern, why] of [[backref, 'backref'], [unicode, 'unicode']]) {
      assert.deepEqual(regexAnalyzer(pattern, { withFields: false })(line), { ...wantRest }, why);
    }
  });

  it('keys routing by a header group or a field group, and works in a handler list', () => {
    const regex = String.raw`^R (?<ts>\S+) (?<method>\S+) (?<url>\S+) (?<tenant>\S+) (?<header_x_user_id>\S+)$`;
    const line = 'R 1431857103 GET /r acme u5';
    for (const [hashField, key] of [['tenant', 'acme'], ['x-user-id', 'u5'], ['header_x_user_id', 'u5']]) {
      const r = buildChain({ format: 'combined', handler: ['combined', 'regex'], regex, hashField }).analyze(line);
      assert.ok(r.ok);
      assert.equal(r.rec.key, key, hashField);
    }
  });

  const bad: Array<[string | undefined, RegExp, string]> = [
    [undefined, /^required when the analyzer chain uses "regex"$/, 'no pattern'],
    [String.raw`(?<ts>\S+) (?<url>\S+)`, /needs the named groups \(\?<ts>…\), \(\?<method>…\), \(\?<url>…\); missing method$/, 'a missing group'],
    [String.raw`(?<ts>\S+ (?<method>\S+) (?<url>\S+)`, /^not a valid regular expression: Invalid regular expression: .*Unterminated group/, 'invalid syntax: the JS message'],
    [String.raw`(?<ts>a)(?<ts>b)(?<method>c)(?<url>d)`, /^not a valid regular expression: .*Duplicate capture group name/, 'a duplicate group name'],
  ];
  for (const [pattern, message, why] of bad) {
    it(`rejects ${why}, naming fetcher.file.regex`, () => {
      const issues = configIssues(() => regexAnalyzer(pattern));
      assert.deepEqual(issues.map((i) => i.key), ['fetcher.file.regex']);
      assert.match(issues[0].message, message);
    });
  }

  it('buildChain with regex in the handler list but no pattern names fetcher.file.regex', () => {
    const issues = configIssues(() => buildChain({ format: 'combined', handler: ['regex'] }));
    assert.deepEqual(issues.map((i) => i.key), ['fetcher.file.regex']);
  });
});

// -------------------------------------------------------------------------------------------
// bodies

describe('bodies', () => {
  const payload = Buffer.from([0x7b, 0x00, 0xff, 0x10, 0x22, 0x7d]); // binary, not UTF-8
  const b64 = payload.toString('base64');

  const rows: Array<[string, string | Uint8Array, string]> = [
    ['aGVsbG8gd29ybGQ=', Buffer.from('hello world'), 'padded'],
    ['aGk', Buffer.from('hi'), 'unpadded'],
    [b64, payload, 'binary bytes'],
    ['_-8', Buffer.from([0xff, 0xef]), 'URL-safe alphabet'],
    ['aGVs\nbG8=', Buffer.from('hello'), 'line-wrapped'],
  ];
  for (const [input, want, why] of rows) {
    it(`base64: ${why}`, () => assert.deepEqual(decodeBody(input, 'base64'), want));
  }
  it('raw: as is', () => assert.equal(decodeBody('a=1&b=2', 'raw'), 'a=1&b=2'));
  it('base64: not base64 throws', () => assert.throws(() => decodeBody('not base64!', 'base64'), /body is not valid base64/));

  it('unescapeNginx: a surrogate pair in escape=json, unknown escapes kept', () => {
    assert.equal(unescapeNginx(String.raw`\ud83d\ude00 \q \x4`), '😀 \\q \\x4');
  });

  it('jsonl, nginx and regex decode a base64 body to bytes', () => {
    const j = jsonlAnalyzer({}, 'base64')(JSON.stringify({ ts: 1431857103, method: 'post', url: '/u', body: b64 }));
    assert.deepEqual(j?.body, payload);
    const n = compileNginxFormat('[$time_local] "$request" "$request_body"', { bodyEncoding: 'base64' })(`[17/May/2015:10:05:03 +0000] "PUT /u HTTP/1.1" "${b64}"`);
    assert.deepEqual(n?.body, payload);
    const r = regexAnalyzer(String.raw`^(?<ts>\S+) (?<method>\S+) (?<url>\S+) (?<body>\S+)$`, { bodyEncoding: 'base64' })(`1431857103 PATCH /u ${b64}`);
    assert.deepEqual(r?.body, payload);
    // An object body under base64 is still its JSON text (only a string can be base64).
    assert.equal(jsonlAnalyzer({}, 'base64')('{"ts":1,"url":"/o","body":{"a":1}}')?.body, '{"a":1}');
  });

  it('a malformed base64 body is a parse error with a reason, not a crash', () => {
    const r = buildChain({ format: 'jsonl', bodyEncoding: 'base64' }).analyze('{"ts":1431857103,"method":"POST","url":"/u","body":"%%%"}');
    assert.deepEqual(r, { ok: false, filtered: false, reason: 'analyzer jsonl threw: body is not valid base64' });
  });

  it('the chain passes bytes through, and a user analyzer may return them', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const chain = buildChain({ format: 'combined', module: [() => ({ ts: 1, method: 'POST', url: '/b', body: bytes })] });
    const r: ChainResult = chain.analyze('x');
    assert.ok(r.ok);
    assert.equal(r.rec.body, bytes);
  });

  const rules = compileRules({}, []);
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'GET', 'HEAD']) {
    const sends = method !== 'GET' && method !== 'HEAD';
    it(`the replayer ${sends ? 'sends' : 'drops'} a decoded body on ${method}`, () => {
      const rec: LogRecord = { ts: 1, method, url: '/b', body: payload, src: 0, seq: 0 };
      assert.deepEqual(buildRequest(rec, rules).body, sends ? payload : undefined);
    });
  }
});

// -------------------------------------------------------------------------------------------
// config and wiring

describe('config: format nginx | regex, log_format, regex, body_encoding', () => {
  let dir = '';
  let n = 0;
  async function toml(text: string): Promise<string> {
    const file = join(dir, `job${n++}.toml`);
    await writeFile(file, text);
    return file;
  }
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'havok-nginx-regex-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function issuesOf(opts: LoadOptions): ReadonlyArray<{ key: string; message: string }> {
    return configIssues(() => loadConfig(opts));
  }

  it('defaults: log_format is nginx combined, body_encoding raw, no regex', () => {
    const f = loadConfig({}).fetcher.file;
    assert.equal(f.log_format, NGINX_COMBINED);
    assert.equal(f.body_encoding, 'raw');
    assert.equal(f.regex, undefined);
  });

  it('format = "nginx" with a log_format reaches the chain through chainFor (TOML file)', async () => {
    const cfg = loadConfig({
      file: await toml(`[fetcher.file]\nformat = "nginx"\nlog_format = '${CUSTOM}'\n[analyzer]\nhash_field = "http_x_user_id"\n`),
    });
    const r = (await chainFor(cfg)).analyze(`1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /c HTTP/1.1" 200 1 "-" "-" 0.100 "u1"`);
    assert.deepEqual(r, { ok: true, rec: { ts: T0, method: 'GET', url: '/c', headers: { 'x-user-id': 'u1' }, key: 'u1' } });
  });

  it('format = "regex" with body_encoding = "base64" reaches the chain (environment variables)', async () => {
    const cfg = loadConfig({
      env: {
        HAVOK_FETCHER_FILE_FORMAT: 'regex',
        HAVOK_FETCHER_FILE_REGEX: String.raw`^(?<ts>\d+) (?<method>\w+) (?<url>\S+) (?<body>\S+)$`,
        HAVOK_FETCHER_FILE_BODY_ENCODING: 'base64',
      },
    });
    const r = (await chainFor(cfg)).analyze('1431857103 POST /e aGk=');
    assert.deepEqual(r, { ok: true, rec: { ts: T0, method: 'POST', url: '/e', body: Buffer.from('hi') } });
  });

  const bad: Array<[string, string, RegExp, string]> = [
    ['[fetcher.file]\nformat = "regex"\n', 'fetcher.file.regex', /^required when format = "regex"$/, 'format = "regex" without regex'],
    ['[fetcher.file]\nformat = "regex"\nregex = \'(?<ts>\\S+\'\n', 'fetcher.file.regex', /^not a valid regular expression: Invalid regular expression: .*Unterminated group/, 'an invalid regex: the JS message'],
    ['[fetcher.file]\nregex = \'(?<ts>\\S+) (?<url>\\S+)\'\n', 'fetcher.file.regex', /missing method$/, 'a regex without the method group (even when format is not regex)'],
    ['[fetcher.file]\nbody_encoding = "hex"\n', 'fetcher.file.body_encoding', /raw.*base64/, 'an unknown body_encoding'],
    ['[fetcher.file]\nformat = "apache"\n', 'fetcher.file.format', /nginx.*regex/, 'an unknown format lists nginx and regex'],
    ['[fetcher.file]\nlog_format = ""\n', 'fetcher.file.log_format', /./, 'an empty log_format'],
  ];
  for (const [text, key, message, why] of bad) {
    it(`rejects ${why}, naming ${key}`, async () => {
      const issues = issuesOf({ file: await toml(text) });
      assert.deepEqual(issues.map((i) => i.key), [key]);
      assert.match(issues[0].message, message);
    });
  }

  it('a log_format that cannot give a record fails when the chain is built, naming fetcher.file.log_format', async () => {
    const cfg = loadConfig({ set: ['fetcher.file.format="nginx"', 'fetcher.file.log_format="$status $body_bytes_sent"'] });
    await assert.rejects(chainFor(cfg), (err: Error) => err instanceof ConfigError && err.issues[0].key === 'fetcher.file.log_format');
  });
});
