/**
 * The side-by-side comparison of two JSON texts (aligned.ts) against the reference it replaces:
 * parse both and walk the trees (diffTrees). Whenever it answers, its answer must be the walk's,
 * and the right text must be JSON; when it cannot tell, it must say so (undefined).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { alignedDiff } from '../../services/diff/aligned.js';
import { diffTrees, type CompareOptions, type Difference } from '../../services/diff/compare.js';
import { compareRecord, comparerOptions } from '../../services/diff/record.js';
import { DiffCounters } from '../../services/diff/counters.js';
import { diffSchema } from '../../services/diff/settings.js';
import type { Json } from '../../services/diff/tree.js';

const STRICT: CompareOptions = { arrayOrder: 'strict', numberTolerance: 0 };
const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The reference: both texts parsed, the trees walked under `body`; undefined when the right one is not JSON. */
function reference(left: string, right: string, opts: CompareOptions): Difference[] | undefined {
  let r: Json;
  try {
    r = JSON.parse(right) as Json;
  } catch {
    return undefined;
  }
  return diffTrees({ body: JSON.parse(left) as Json }, { body: r }, opts);
}

const aligned = (left: string, right: string, opts: CompareOptions = STRICT): Difference[] | undefined => alignedDiff(bytes(left), JSON.parse(left) as Json, bytes(right), opts);

/** Any JSON value, as JSON.parse gives it (no -0). */
const jsonValue = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as Json);
const scalar: fc.Arbitrary<Json> = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.parse(JSON.stringify(x)) as Json), fc.string(), fc.constantFrom(true, false, null, 'é\u2028"\\', 1, '1'));

/** `v` with some scalars replaced: `pick` says for each scalar met whether to, and by what. */
function mutate(v: Json, pick: () => Json | undefined): Json {
  if (v !== null && typeof v === 'object') {
    if (Array.isArray(v)) return v.map((x) => mutate(x, pick));
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) out[k] = mutate(x, pick);
    return out;
  }
  return pick() ?? v;
}

const OPTIONS: CompareOptions[] = [STRICT, { arrayOrder: 'ignore', numberTolerance: 0 }, { arrayOrder: 'strict', numberTolerance: 0.01 }];

describe('alignedDiff', () => {
  const cases: Array<[string, string, string, string[] | undefined]> = [
    // [case, left, right, differences or undefined (left to the tree walk)]
    ['equal bytes', '{"a":1}', '{"a":1}', []],
    ['one changed string', '{"ts":"1-2","a":[1,2]}', '{"ts":"3-4","a":[1,2]}', ['body.ts primitive @body.ts']],
    ['a changed number deep in an array', '{"items":[{"p":1},{"p":2}]}', '{"items":[{"p":1},{"p":3}]}', ['body.items[*].p primitive @body.items[1].p']],
    ['a number for a string: type', '{"a":"1"}', '{"a":1}', ['body.a type @body.a']],
    ['the same value written otherwise: none', '{"a":1.0,"b":"\\u0041"}', '{"a":1,"b":"A"}', []],
    ['longer and shorter values, two of them', '{"a":"x","b":{"c":10}}', '{"a":"xyz","b":{"c":1}}', ['body.a primitive @body.a', 'body.b.c primitive @body.b.c']],
    ['a scalar body', '5', '6', ['body primitive @body']],
    ['escaped quotes inside the values', '{"a":"x\\"y"}', '{"a":"x\\"z"}', ['body.a primitive @body.a']],
    ['an escaped key on the path', '{"a\\"b":1}', '{"a\\"b":2}', ['body.a"b primitive @body.a"b']],
    ['a changed key: left to the walk', '{"a":1}', '{"b":1}', undefined],
    ['other whitespace: left to the walk', '{"a":1}', '{"a": 1}', undefined],
    ['an object for a number: left to the walk', '{"a":1}', '{"a":{}}', undefined],
    ['a right text that is not JSON', '{"a":1}', '{"a":1x}', undefined],
    ['an unterminated right string', '{"a":"x"}', '{"a":"x}', undefined],
    ['trailing bytes on the right', '{"a":1}', '{"a":1} ', undefined],
    ['two values of one array (maybe an order difference)', '[1,2]', '[2,1]', undefined],
    ['a repeated key on the path', '{"a":1,"a":1}', '{"a":2,"a":1}', undefined],
    ['an integer-like key on the path', '{"b":1,"1":1}', '{"b":2,"1":2}', undefined],
  ];
  for (const [name, left, right, want] of cases) {
    test(name, () => {
      const got = aligned(left, right);
      assert.deepEqual(got?.map((d) => `${d.path} ${d.kind} @${d.at}`), want);
      if (got) assert.deepEqual(got, reference(left, right, STRICT), 'the tree walk agrees');
    });
  }

  test('arrays compared as multisets: a value inside an array is left to the walk, others are not', () => {
    const ignore: CompareOptions = { arrayOrder: 'ignore', numberTolerance: 0 };
    assert.equal(aligned('{"a":[1,2]}', '{"a":[1,3]}', ignore), undefined);
    assert.deepEqual(aligned('{"t":1,"a":[1,2]}', '{"t":2,"a":[1,2]}', ignore), reference('{"t":1,"a":[1,2]}', '{"t":2,"a":[1,2]}', ignore));
  });

  test('number tolerance applies as in the walk', () => {
    const tol: CompareOptions = { arrayOrder: 'strict', numberTolerance: 0.01 };
    assert.deepEqual(aligned('{"a":100,"b":1}', '{"a":100.5,"b":2}', tol), ['body.b'].map((p) => ({ path: p, at: p, kind: 'primitive' })));
  });

  test('property: scalars replaced in any document (compact or indented) — the walk\'s answer, and never undefined without a reason', () => {
    fc.assert(
      fc.property(jsonValue, fc.array(fc.option(scalar, { freq: 3 }), { minLength: 1, maxLength: 40 }), fc.boolean(), fc.constantFrom(...OPTIONS), (v, picks, indent, opts) => {
        let k = 0;
        const w = mutate(v, () => picks[k++ % picks.length] ?? undefined);
        const left = JSON.stringify(v, null, indent ? 2 : undefined);
        const right = JSON.stringify(w, null, indent ? 2 : undefined);
        const got = aligned(left, right, opts);
        if (got !== undefined) assert.deepEqual(got, reference(left, right, opts));
      }),
      { numRuns: 500 },
    );
  });

  test('property: any bytes edited into a document — whenever it answers, the right text is JSON and the answer is the walk\'s', () => {
    const alphabet = fc.constantFrom(...'{}[]",:\\ 0123456789-+.eEtrufalsn\u00e9x'.split(''));
    fc.assert(
      fc.property(jsonValue, fc.array(fc.tuple(fc.nat(), fc.nat(2), alphabet), { minLength: 1, maxLength: 4 }), fc.constantFrom(...OPTIONS), (v, edits, opts) => {
        const left = JSON.stringify(v);
        let right = left;
        for (const [at, op, ch] of edits) {
          const p = right.length ? at % right.length : 0;
          // 0: replace a character, 1: insert one, 2: delete one.
          right = op === 0 ? right.slice(0, p) + ch + right.slice(p + 1) : op === 1 ? right.slice(0, p) + ch + right.slice(p) : right.slice(0, p) + right.slice(p + 1);
        }
        const got = aligned(left, right, opts);
        if (got !== undefined) assert.deepEqual(got, reference(left, right, opts));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('compareRecord with side-by-side bodies', () => {
  /** Counters of one record compared with the fast path and with every body parsed. */
  test('the same counts and examples as lifting every body, for bodies that differ in scalars, keys, or not at all', () => {
    const settings = diffSchema.parse({ primary: 'http://p', candidate: 'http://c', secondary: 'http://s' });
    const opts = comparerOptions(settings);
    const headers = [['Content-Type', 'application/json'], ['X-Build', 'a']] as const;
    const bodies: Array<[string, string, string]> = [
      ['{"ts":1,"items":[{"p":1}]}', '{"ts":2,"items":[{"p":2}]}', '{"ts":3,"items":[{"p":1}]}'],
      ['{"a":1}', '{"b":1}', '{"a":1}'],
      ['{"a":1}', 'not json', '{"a":1}'],
      ['{"a":[1,2]}', '{"a":[2,1]}', '{"a":[1,2]}'],
    ];
    for (const [p, c, s] of bodies) {
      const fast = new DiffCounters(5);
      const resp = (body: string) => ({ response: { status: 200, headers, body: bytes(body), cut: false } });
      compareRecord({ method: 'GET', url: '/x', src: 0, seq: 1 }, { primary: resp(p), candidate: resp(c), secondary: resp(s) }, opts, fast);
      // The reference: the candidate and secondary bodies differ from the primary's in whitespace
      // only, which the tree walk ignores and the side-by-side comparison never handles.
      const slow = new DiffCounters(5);
      const spaced = (body: string) => resp(body.startsWith('{') ? ` ${body}` : body);
      compareRecord({ method: 'GET', url: '/x', src: 0, seq: 1 }, { primary: resp(p), candidate: spaced(c), secondary: spaced(s) }, opts, slow);
      const f = fast.snapshot();
      const sl = slow.snapshot();
      assert.deepEqual(f.endpoints, sl.endpoints, `${p} / ${c} / ${s}: counts`);
      assert.deepEqual(f.bodies, sl.bodies, `${p} / ${c} / ${s}: body flags`);
      const strip = (e: (typeof f.examples)[number]) => ({ ...e, responses: Object.fromEntries(Object.entries(e.responses).map(([k, r]) => [k, { ...r, body: r.body.trim() }])) });
      assert.deepEqual(f.examples.map(strip), sl.examples.map(strip), `${p} / ${c} / ${s}: examples`);
    }
  });
});
