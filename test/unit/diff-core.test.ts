import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeBody } from '../../services/diff/body.js';
import { diffTrees, numbersEqual, type CompareOptions } from '../../services/diff/compare.js';
import { liftResponse } from '../../services/diff/lift.js';
import { canonical, valueAt, type Json } from '../../services/diff/tree.js';
import { DEFAULT_IGNORED_HEADERS } from '../../services/diff/settings.js';

const json = (x: unknown): Uint8Array => Buffer.from(JSON.stringify(x));
const kinds = (a: Json, b: Json, opts?: CompareOptions): string[] => diffTrees(a, b, opts).map((d) => `${d.path} ${d.kind} @${d.at}`);

/** Any JSON value fast-check makes, as our Json (no -0: JSON has none). */
const jsonValue = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as Json);

describe('diffTrees', () => {
  const cases: Array<[string, Json, Json, string[], CompareOptions?]> = [
    ['equal objects in another key order', { a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, []],
    ['a changed number', { price: 1 }, { price: 2 }, ['price primitive @price']],
    ['a missing key', { a: 1, b: 2 }, { a: 1 }, ['b missing @b']],
    ['an extra key', { a: 1 }, { a: 1, c: 3 }, ['c extra @c']],
    ['number against string', { a: 1 }, { a: '1' }, ['a type @a']],
    ['null against object', { a: null }, { a: {} }, ['a type @a']],
    ['array against object', { a: [] }, { a: {} }, ['a type @a']],
    ['arrays of other sizes', { a: [1, 2] }, { a: [1] }, ['a size @a']],
    ['same elements, other order', { a: [1, 2, 3] }, { a: [3, 1, 2] }, ['a order @a']],
    ['other order ignored as multisets', { a: [1, 2, 3] }, { a: [3, 1, 2] }, [], { arrayOrder: 'ignore', numberTolerance: 0 }],
    ['a nested array element', { items: [{ price: 1 }, { price: 2 }] }, { items: [{ price: 1 }, { price: 3 }] }, ['items[*].price primitive @items[1].price']],
    ['multisets pair sorted elements', { a: [{ k: 'x', v: 1 }, { k: 'y', v: 2 }] }, { a: [{ k: 'y', v: 2 }, { k: 'x', v: 5 }] }, ['a[*].v primitive @a[0].v'], { arrayOrder: 'ignore', numberTolerance: 0 }],
    ['numbers within the tolerance', { p: 100 }, { p: 100.05 }, [], { arrayOrder: 'strict', numberTolerance: 0.001 }],
    ['numbers beyond the tolerance', { p: 100 }, { p: 101 }, ['p primitive @p'], { arrayOrder: 'strict', numberTolerance: 0.001 }],
    ['a root primitive', 'a', 'b', [' primitive @']],
    ['text lines', ['a', 'b', 'c'], ['a', 'x', 'c'], ['[*] primitive @[1]']],
  ];
  for (const [name, a, b, want, opts] of cases) test(name, () => assert.deepEqual(kinds(a, b, opts), want));

  test('property: a value never differs from itself, nor from a copy with its keys reordered', () => {
    const reorder = (x: Json): Json =>
      x === null || typeof x !== 'object' ? x : Array.isArray(x) ? x.map(reorder) : Object.fromEntries(Object.keys(x).reverse().map((k) => [k, reorder(x[k])]));
    fc.assert(fc.property(jsonValue, (v) => diffTrees(v, v).length === 0 && diffTrees(v, reorder(v)).length === 0));
  });

  test('property: differences exist exactly when the canonical forms differ (strict, exact numbers)', () => {
    fc.assert(fc.property(jsonValue, jsonValue, (a, b) => (diffTrees(a, b).length === 0) === (canonical(a) === canonical(b))));
  });

  test('property: missing one way is extra the other way, at the same paths', () => {
    fc.assert(
      fc.property(jsonValue, jsonValue, (a, b) => {
        const there = diffTrees(a, b).filter((d) => d.kind === 'missing').map((d) => d.at).sort();
        const back = diffTrees(b, a).filter((d) => d.kind === 'extra').map((d) => d.at).sort();
        assert.deepEqual(there, back);
      }),
    );
  });

  test('property: as multisets, any permutation of an array is equal to it', () => {
    fc.assert(
      fc.property(fc.array(jsonValue, { maxLength: 8 }).chain((xs) => fc.tuple(fc.constant(xs), fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }))), ([xs, ys]) => {
        assert.deepEqual(diffTrees(xs, ys, { arrayOrder: 'ignore', numberTolerance: 0 }), []);
      }),
    );
  });

  test('property: every difference names a concrete path that leads to a value on at least one side', () => {
    // Keys with `.` or `[` are not addressable by a dotted path (documented on valueAt).
    const plainKeys = (x: Json): Json =>
      x === null || typeof x !== 'object' ? x : Array.isArray(x) ? x.map(plainKeys) : Object.fromEntries(Object.entries(x).map(([k, v]) => [k.replace(/[.[\]]/g, '_') || '_', plainKeys(v)]));
    fc.assert(
      fc.property(jsonValue.map(plainKeys), jsonValue.map(plainKeys), (a, b) => {
        for (const d of diffTrees({ body: a }, { body: b })) assert.ok(valueAt({ body: a }, d.at) !== undefined || valueAt({ body: b }, d.at) !== undefined, d.at);
      }),
    );
  });

  test('numbersEqual is symmetric and exact at tolerance 0', () => {
    fc.assert(fc.property(fc.double({ noNaN: true }), fc.double({ noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (x, y, t) => numbersEqual(x, y, t) === numbersEqual(y, x, t) && numbersEqual(x, y, 0) === (x === y)));
  });
});

describe('decodeBody', () => {
  const doc = { items: [{ id: 1, price: 9.5 }], name: 'ü' };
  const cases: Array<[string, Uint8Array, string | undefined, string | undefined]> = [
    ['identity', json(doc), 'application/json', undefined],
    ['gzip', gzipSync(json(doc)), 'application/json; charset=utf-8', 'gzip'],
    ['deflate (zlib)', deflateSync(json(doc)), 'application/json', 'deflate'],
    ['deflate (raw)', deflateRawSync(json(doc)), 'application/json', 'deflate'],
    ['br', brotliCompressSync(json(doc)), 'application/problem+json', 'br'],
  ];
  for (const [name, raw, type, enc] of cases) {
    test(`JSON, ${name}, decodes to the same value`, () => assert.deepEqual(decodeBody(raw, type, enc, 1 << 20), { body: doc, kind: 'json', flags: [] }));
  }

  test('text is compared by lines', () => {
    assert.deepEqual(decodeBody(Buffer.from('<p>\r\nhi\n</p>'), 'text/html', undefined, 1000), { body: ['<p>', 'hi', '</p>'], kind: 'text', flags: [] });
  });

  test('anything else by bytes: a length and digest', () => {
    const d = decodeBody(Buffer.from([1, 2, 3]), 'image/png', undefined, 1000);
    assert.equal(d.kind, 'bytes');
    assert.match(d.body as string, /^3 bytes sha1:[0-9a-f]{16}$/);
  });

  test('an empty body is null whatever its type', () => assert.deepEqual(decodeBody(new Uint8Array(0), 'application/json', 'gzip', 10), { body: null, kind: 'empty', flags: [] }));

  test('a body that is not what its content type says: counted not_json and compared as text', () => {
    assert.deepEqual(decodeBody(Buffer.from('<html>oops'), 'application/json', undefined, 1000), { body: ['<html>oops'], kind: 'text', flags: ['not_json'] });
  });

  test('non-UTF-8 text: counted and compared as bytes', () => {
    const d = decodeBody(Buffer.from([0x68, 0xff, 0xfe, 0x69]), 'text/plain', undefined, 1000);
    assert.deepEqual([d.kind, d.flags], ['bytes', ['non_utf8']]);
  });

  test('a huge body is compared up to max_body_bytes and counted truncated', () => {
    const d = decodeBody(Buffer.from('a\n'.repeat(100)), 'text/plain', undefined, 10);
    assert.deepEqual(d, { body: ['a', 'a', 'a', 'a', 'a', ''], kind: 'text', flags: ['truncated'] });
  });

  test('a body cut by the sender (gzip stream cut short) still decodes what it holds', () => {
    const gz = gzipSync(Buffer.from(Array.from({ length: 2000 }, (_, i) => `line ${i * 7919}`).join('\n')));
    const d = decodeBody(gz.subarray(0, Math.floor(gz.length / 2)), 'text/plain', 'gzip', 1 << 20, true);
    assert.equal(d.kind, 'text');
    assert.deepEqual(d.flags, ['truncated']);
    assert.ok((d.body as string[]).length > 1);
  });

  test('a decompression bomb beyond max_body_bytes is counted truncated, not expanded', () => {
    const d = decodeBody(gzipSync(Buffer.alloc(10_000_000)), 'text/plain', 'gzip', 1000);
    assert.deepEqual([d.kind, d.flags], ['bytes', ['truncated']]);
  });

  test('a broken gzip stream and an unknown encoding are counted, never thrown', () => {
    assert.deepEqual(decodeBody(Buffer.from('not gzip'), 'application/json', 'gzip', 1000).flags, ['decode_error']);
    assert.deepEqual(decodeBody(Buffer.from('x'), 'application/json', 'zstd-foo', 1000).flags, ['unknown_encoding']);
  });

  test('property: any bytes with any type and encoding decode without throwing', () => {
    const types = fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/octet-stream', 'text/html; charset=latin1');
    const encs = fc.constantFrom(undefined, 'gzip', 'deflate', 'br', 'identity', 'weird');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), types, encs, fc.integer({ min: 1, max: 300 }), fc.boolean(), (b, t, e, max, cut) => void decodeBody(b, t, e, max, cut)));
  });
});

describe('liftResponse', () => {
  const opts = { ignoreHeaders: new Set(DEFAULT_IGNORED_HEADERS), maxBodyBytes: 1 << 20 };
  test('status, headers lower-cased with values sorted, ignored ones left out, body decoded', () => {
    const l = liftResponse(
      { status: 200, headers: [['Content-Type', 'application/json'], ['X-B', '2'], ['x-b', '1'], ['Date', 'now'], ['ETag', 'x']], body: json({ a: 1 }), cut: false },
      opts,
    );
    assert.deepEqual(l.tree, { status: 200, headers: { 'content-type': 'application/json', 'x-b': '1, 2' }, body: { a: 1 } });
  });

  test('header order and case never make a difference; a dropped header is missing at headers.<name>', () => {
    const a = liftResponse({ status: 200, headers: [['X-A', '1'], ['x-version', '7']], body: new Uint8Array(0), cut: false }, opts);
    const b = liftResponse({ status: 200, headers: [['x-version', '7'], ['x-a', '1']], body: new Uint8Array(0), cut: false }, opts);
    const c = liftResponse({ status: 200, headers: [['x-a', '1']], body: new Uint8Array(0), cut: false }, opts);
    assert.deepEqual(diffTrees(a.tree, b.tree), []);
    assert.deepEqual(kinds(a.tree, c.tree), ['headers.x-version missing @headers.x-version']);
  });
});
