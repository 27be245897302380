import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ApiNamer, OTHER_API, apiTemplate } from '../../shared/api-name.js';

describe('apiTemplate', () => {
  const rows: Array<[string, string, string]> = [
    ['/items/123', '/items/:id', 'a number is an id'],
    ['/items/123/parts/4', '/items/:id/parts/:id', 'every numeric segment'],
    ['/items/0', '/items/:id', 'zero'],
    ['/items/123abc', '/items/123abc', 'digits then hex letters, shorter than 8: a word'],
    ['/items/123456xyz', '/items/123456xyz', 'digits then non-hex letters: a word'],
    ['/u/550e8400-e29b-41d4-a716-446655440000', '/u/:uuid', 'a UUID'],
    ['/u/550E8400-E29B-41D4-A716-446655440000/x', '/u/:uuid/x', 'an upper-case UUID'],
    ['/u/550e8400-e29b-41d4-a716-44665544000', '/u/550e8400-e29b-41d4-a716-44665544000', 'one digit short of a UUID'],
    ['/o/5f2b9c1e', '/o/:hex', '8 hex digits with a digit'],
    ['/o/5F2B9C1EAB', '/o/:hex', 'upper-case hex, longer than 8'],
    ['/o/deadbeef', '/o/deadbeef', '8 hex letters without a digit stay a word'],
    ['/o/decade', '/o/decade', 'a hex-looking word shorter than 8'],
    ['/o/5f2b9c1', '/o/5f2b9c1', '7 hex digits: not a hex id'],
    ['/o/5f2b9c1g', '/o/5f2b9c1g', 'not hex at all'],
    ['/items/123?sort=asc&page=2', '/items/:id', 'query stripped'],
    ['/items/123#reviews', '/items/:id', 'fragment stripped'],
    ['/search?q=/items/1', '/search', 'a path inside the query is not part of the name'],
    ['http://shop.example.com/items/9?x=1', '/items/:id', 'absolute URL'],
    ['https://shop.example.com:8443/u/550e8400-e29b-41d4-a716-446655440000', '/u/:uuid', 'absolute https URL with a port'],
    ['http://shop.example.com', '/', 'origin only'],
    ['http://shop.example.com?x=1', '/', 'origin and a query'],
    ['/', '/', 'root'],
    ['', '/', 'empty'],
    ['/items/', '/items/', 'a trailing slash is kept'],
    ['//items//7', '//items//:id', 'empty segments are kept as they are'],
  ];
  for (const [url, want, why] of rows) {
    test(`${why}: ${JSON.stringify(url)} → ${want}`, () => assert.equal(apiTemplate(url), want, `apiTemplate(${JSON.stringify(url)})`));
  }

  test('property: the same names as the rules written as regular expressions', () => {
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    const HEX = /^(?=.*\d)[0-9a-f]{8,}$/i;
    const reference = (url: string): string => {
      let path = url;
      if (!path.startsWith('/')) {
        const scheme = path.indexOf('://');
        if (scheme >= 0) {
          const slash = path.indexOf('/', scheme + 3);
          path = slash >= 0 ? path.slice(slash) : '/';
        }
      }
      const q = path.search(/[?#]/);
      if (q >= 0) path = path.slice(0, q);
      const name = (seg: string): string => (seg === '' ? seg : /^\d+$/.test(seg) ? ':id' : UUID.test(seg) ? ':uuid' : HEX.test(seg) ? ':hex' : seg);
      return path.split('/').map(name).join('/') || '/';
    };
    const segment = fc.oneof(fc.nat().map(String), fc.uuid(), fc.stringMatching(/^[0-9a-fA-F]{0,12}$/), fc.stringMatching(/^[0-9a-z./?#:-]{0,10}$/), fc.constant(''));
    const url = fc.tuple(fc.constantFrom('', '/', 'http://h', 'https://h:1/', 'h/'), fc.array(segment, { maxLength: 6 }), fc.constantFrom('', '?a=1/2', '#x/3', '?'));
    fc.assert(
      fc.property(url, ([origin, segs, tail]) => {
        const u = origin + segs.join('/') + tail;
        assert.equal(apiTemplate(u), reference(u), JSON.stringify(u));
      }),
      { numRuns: 2000 },
    );
  });

  test('property: ids of any value map to the same name', () => {
    fc.assert(
      fc.property(fc.nat(), fc.uuid(), fc.nat(), (n, uuid, m) => {
        assert.equal(apiTemplate(`/a/${n}/b/${uuid}?page=${m}`), '/a/:id/b/:uuid', `/a/${n}/b/${uuid}?page=${m}`);
      }),
    );
  });
});

describe('ApiNamer', () => {
  test('keeps the first `cap` names; later new names become `other`, known ones stay', () => {
    const namer = new ApiNamer(2);
    const seq: Array<[string, string]> = [
      ['/a/1', '/a/:id'],
      ['/b/2', '/b/:id'],
      ['/c/3', OTHER_API], // a third name: over the cap
      ['/a/99', '/a/:id'], // known: still its own name
      ['/d', OTHER_API],
      ['/b/7?x', '/b/:id'],
    ];
    for (const [url, want] of seq) assert.equal(namer.name(url), want, `name(${url}) with cap 2`);
  });

  test('a name given by the analyzer is used as is and counts toward the cap', () => {
    const namer = new ApiNamer(1);
    assert.equal(namer.name('/items/1', 'GetItem'), 'GetItem');
    assert.equal(namer.name('/items/2', 'GetItem'), 'GetItem');
    assert.equal(namer.name('/items/3'), OTHER_API);
  });

  test('cap 0: everything is `other`', () => {
    assert.equal(new ApiNamer(0).name('/x'), OTHER_API);
  });

  test('property: never more than cap + 1 distinct names, however many URLs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(fc.webPath(), { maxLength: 200 }), (cap, urls) => {
        const namer = new ApiNamer(cap);
        const names = new Set(urls.map((u) => namer.name(u)));
        names.delete(OTHER_API);
        assert.ok(names.size <= cap, `cap ${cap}: ${names.size} names ${[...names].join(' ')}`);
      }),
    );
  });
});
