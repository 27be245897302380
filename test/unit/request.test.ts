import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildRequest, compileRules, pathOf } from '../../services/replayer/request.js';
import type { LogRecord } from '../../shared/protocol.js';

const rec = (over: Partial<LogRecord>): LogRecord => ({ ts: 0, src: 0, seq: 0, method: 'GET', url: '/', ...over });
const NO_RULES = compileRules({}, []);

describe('pathOf: the log URL loses its origin (the target origin replaces it)', () => {
  const rows: Array<[string, string, string]> = [
    ['/a/b?c=1', '/a/b?c=1', 'a path stays as it is'],
    ['http://old.example.com/a/b?c=1', '/a/b?c=1', 'absolute http URL'],
    ['https://old.example.com:8443/a', '/a', 'absolute https URL with a port'],
    ['http://user:pw@old.example.com/x', '/x', 'user info goes with the origin'],
    ['http://old.example.com', '/', 'origin only'],
    ['http://old.example.com/', '/', 'origin and a slash'],
    ['http://old.example.com?q=1', '/?q=1', 'origin and a query, no path: the query is kept'],
    ['http://old.example.com#top', '/', 'origin and a fragment'],
    ['a/b', '/a/b', 'relative path gets its slash'],
    ['/p?next=http://x.example/y', '/p?next=http://x.example/y', 'a URL inside the query is not an origin'],
  ];
  for (const [url, want, why] of rows) {
    test(`${why}: ${url} → ${want}`, () => assert.equal(pathOf(url), want, `pathOf(${JSON.stringify(url)})`));
  }
});

describe('buildRequest', () => {
  test('absolute URL: the request carries only path and query', () => {
    const r = buildRequest(rec({ url: 'http://old.example.com:8080/items/7?x=1' }), NO_RULES);
    assert.equal(r.path, '/items/7?x=1');
  });

  test('hop-by-hop headers are dropped, in any case; end-to-end ones kept, lower-cased', () => {
    const headers = {
      Host: 'old.example.com',
      Connection: 'keep-alive',
      'Keep-Alive': 'timeout=5',
      'Content-Length': '12',
      'Transfer-Encoding': 'chunked',
      Upgrade: 'websocket',
      'Proxy-Connection': 'keep-alive',
      TE: 'trailers',
      Trailer: 'Expires',
      'User-Agent': 'curl/8',
      Accept: '*/*',
      'X-Request-Id': 'abc',
    };
    const r = buildRequest(rec({ method: 'POST', headers, body: 'hello world!' }), NO_RULES);
    assert.deepEqual(r.headers, { 'user-agent': 'curl/8', accept: '*/*', 'x-request-id': 'abc' }, `from ${JSON.stringify(headers)}`);
  });

  // [log headers, add, remove, expected headers]
  const rows: Array<[string, Record<string, string> | undefined, Record<string, string>, string[], Record<string, string>]> = [
    ['configured headers are added', { accept: '*/*' }, { 'X-Havok': '1' }, [], { accept: '*/*', 'x-havok': '1' }],
    ['configured headers override the log (any case)', { 'User-Agent': 'curl/8' }, { 'user-agent': 'havok' }, [], { 'user-agent': 'havok' }],
    ['configured header names are lower-cased', undefined, { 'X-Mixed-Case': 'v' }, [], { 'x-mixed-case': 'v' }],
    ['remove_headers drops log headers (any case)', { Cookie: 'a=1', Accept: '*/*' }, {}, ['COOKIE'], { accept: '*/*' }],
    ['remove_headers wins over a configured header of that name', { accept: '*/*' }, { authorization: 'Bearer t' }, ['Authorization'], { accept: '*/*' }],
    ['a record without headers gets only the configured ones', undefined, { 'x-a': '1' }, [], { 'x-a': '1' }],
    ['a configured Host is sent as given (explicit override)', { Host: 'old' }, { host: 'new.example.com' }, [], { host: 'new.example.com' }],
  ];
  for (const [why, headers, add, remove, want] of rows) {
    test(`${why}: ${JSON.stringify(headers ?? {})} + ${JSON.stringify(add)} − ${JSON.stringify(remove)}`, () => {
      const r = buildRequest(rec({ headers }), compileRules(add, remove));
      assert.deepEqual(r.headers, want, `log ${JSON.stringify(headers)}, add ${JSON.stringify(add)}, remove ${JSON.stringify(remove)}`);
    });
  }

  // [method, body, expected method, expected body]
  const bodyRows: Array<[string, string | Uint8Array | undefined, string, string | Uint8Array | undefined, string]> = [
    ['GET', 'ignored', 'GET', undefined, 'no body on GET'],
    ['get', 'ignored', 'GET', undefined, 'no body on GET, method upper-cased'],
    ['HEAD', 'ignored', 'HEAD', undefined, 'no body on HEAD'],
    ['POST', '{"a":1}', 'POST', '{"a":1}', 'POST keeps its body'],
    ['put', new Uint8Array([1, 2, 3]), 'PUT', new Uint8Array([1, 2, 3]), 'binary body kept'],
    ['DELETE', '', 'DELETE', '', 'an empty body is still a body'],
    ['POST', undefined, 'POST', undefined, 'POST without a body'],
  ];
  for (const [method, body, wantMethod, wantBody, why] of bodyRows) {
    test(`${why}: ${method} with ${body === undefined ? 'no body' : JSON.stringify(body)}`, () => {
      const r = buildRequest(rec({ method, body }), NO_RULES);
      assert.equal(r.method, wantMethod);
      assert.deepEqual(r.body, wantBody, `${method}: body`);
      assert.equal('body' in r, wantBody !== undefined, `${method}: body key present only when sent`);
    });
  }

  test('the record is not modified', () => {
    const r = rec({ method: 'post', url: 'http://h/x', headers: { Host: 'h', A: '1' }, body: 'b' });
    const copy = structuredClone(r);
    buildRequest(r, compileRules({ b: '2' }, ['a']));
    assert.deepEqual(r, copy);
  });
});
