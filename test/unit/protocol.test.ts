import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { ProtocolError } from '../../shared/errors.js';
import {
  KINDS,
  SAFE_TOKEN,
  SUBJECT_KINDS,
  consumerName,
  decode,
  decodeOn,
  decodeWith,
  encode,
  envelope,
  streamName,
  jobSubjects,
  subjects,
  type AnyMsg,
  type Channel,
  type DueRecord,
  type KindTable,
  type LogRecord,
  type MsgKind,
} from '../../shared/protocol.js';

const rec: LogRecord = {
  ts: 1_431_857_103_000,
  method: 'POST',
  url: '/items/7?x=1',
  headers: { 'user-agent': 'curl/8', 'content-type': 'application/json' },
  body: '{"a":1}',
  key: 'user-7',
  api: '/items/:id',
  src: 2,
  seq: 41,
};
const due: DueRecord = { ...rec, due: 1_700_000_000_123.456, copy: 1 };

/** One message of every kind, as a sender would build it. */
const SAMPLES: { [K in MsgKind]: Extract<AnyMsg, { kind: K }> } = {
  records: { ...envelope('records', 'fetcher-1'), src: 0, sources: 3, batch: 12, records: [rec, { ts: 1, method: 'GET', url: '/', src: 0, seq: 0 }] },
  source_end: {
    ...envelope('source_end', 'fetcher-1'),
    src: 0,
    sources: 3,
    batches: 13,
    counts: { read: 100, parse_errors: 2, filtered: 3, published: 95, samples: [{ line: 7, text: 'garbage', reason: 'no timestamp' }] },
  },
  dispatch: { ...envelope('dispatch', 'timewheel'), n: 4, upto: 1000, records: [due] },
  dispatch_end: { ...envelope('dispatch_end', 'timewheel'), n: 5, copies: 1500 },
  lease: { ...envelope('lease', 'timewheel-1'), role: 'timewheel', holder: 'timewheel-host-1-ab12', at: 1_700_000_000_000, ttl_ms: 3000 },
  assign: { ...envelope('assign', 'router'), records: [due, { ...due, copy: 0, seq: 42 }] },
  heartbeat: { ...envelope('heartbeat', 'replayer-a1'), id: 'replayer-a1', boot: 'b7f3a9', state: 'up', capacity: 1024, inflight: 3, received: 99, sent: 90, dropped: 1 },
  router: { ...envelope('router', 'router'), members: ['r1', 'r2'], backlog: 3, replayers: [{ id: 'r1', capacity: 8, inflight: 1, last_heartbeat_ms: 300, routed: 5, rps: 2 }], routed: { r1: 5, r2: 6 }, dropped_by_reason: { no_replayer: 1 }, duplicates: 0, done: false },
  stats: {
    ...envelope('stats', 'replayer-a1'),
    id: 'replayer-a1',
    n: 3,
    final: true,
    received: 10,
    sent: 9,
    ok: 8,
    failed: 1,
    dropped_by_reason: { overload: 1 },
    by_status: { '200': 8, '503': 1 },
    by_error: {},
    bytes_sent: 2345,
    bytes_received: 12345,
    latency: [1000, 3, 2000, 5],
    latency_from_due: [1100, 8],
    lateness: [],
    by_api: { '/items/:id': { count: 9, failed: 1, latency: [1000, 9] } },
    interval_sent: 9,
  },
  status: {
    ...envelope('status', 'timewheel'),
    job: 'demo',
    state: 'running',
    speed: 2,
    rate: 1.5,
    position: 1_431_857_103_000,
    records: { read: 10, parse_errors: 1, filtered: 0, dispatched: 9 },
    copies: 13,
    never_sent: 0,
    pending: 0,
    replayer: { target: "http://127.0.0.1:8080", headers: { "x-a": "1" }, remove_headers: [], timeout_ms: 1000 },
    sources_ended: 1,
    sources: 2,
    samples: [],
    started_at: 1_700_000_000_000,
    finished_at: 0,
  },
  control: { ...envelope('control', 'ctl'), op: 'speed', value: 2 },
  control_reply: {
    ...envelope('control_reply', 'timewheel'),
    ok: false,
    error: 'speed: must be > 0, got 0',
    view: {
      job: 'demo',
      state: 'paused',
      speed: 2,
      rate: 1,
      position: 1_431_857_103_000,
      first_ts: 1_431_857_000_000,
      last_ts: 1_431_860_000_000,
      progress: null,
      dispatched: 10,
      copies: 10,
      req_per_s: 0,
      replayers: [{ id: 'r1', capacity: 8, inflight: 1, last_heartbeat_ms: 300, routed: 5, rps: 2 }],
    },
  },
  ended: { ...envelope('ended', 'reporter'), job: 'demo', exit_code: 0 },
  tw_checkpoint: {
    ...envelope('tw_checkpoint', 'timewheel'),
    last: [1_431_857_103_000, 0, 41],
    state: 'running',
    dispatched: 9,
    copies: 13,
    filtered: 1,
    never_sent: 0,
    dispatch_n: 2,
    rate_units: 1_500_000_000,
    rate_acc: 500_000_000,
    speed: 2,
    started_at: 1_700_000_000_000,
    first_ts: 1_431_857_000_000,
    last_ts: 1_431_857_103_000,
    sources: 1,
    source_counts: [[0, { read: 10, parse_errors: 0, filtered: 0, published: 10, samples: [] }]],
  },
  fetcher_checkpoint: { ...envelope('fetcher_checkpoint', 'fetcher'), published: [3, 0], ended: [1] },
};
const ALL_KINDS = Object.keys(SAMPLES) as MsgKind[];

/** Runs `call` and returns the ProtocolError it throws; fails on success or any other error. */
function thrown(call: () => unknown, what: string): ProtocolError {
  try {
    call();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `${what}: want ProtocolError, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    assert.equal(err.name, 'ProtocolError');
    return err;
  }
  assert.fail(`${what} did not throw`);
}
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');
/** The ProtocolError of `decode(data, ...kinds)`. */
const rejection = (data: Uint8Array, ...kinds: MsgKind[]): ProtocolError => thrown(() => decode(data, ...kinds), `decode(${hex(data)}, ${kinds.join('|')})`);

/** Packs any value the way a foreign sender would. */
const foreign = new Packr({ useRecords: false });
const pack = (v: unknown): Uint8Array => foreign.pack(v);

describe('protocol: encode/decode', () => {
  for (const kind of ALL_KINDS) {
    test(`${kind}: round trip`, () => {
      const msg = SAMPLES[kind];
      assert.equal(msg.v, KINDS[kind].v, 'envelope fills in the kind\'s version');
      const back = decode(encode(msg), kind);
      assert.deepEqual(back, msg, `decode(encode(${kind}))`);
    });
  }

  test('decode accepts any of several expected kinds', () => {
    assert.equal(decode(encode(SAMPLES.source_end), 'records', 'source_end').kind, 'source_end');
  });

  test('stats from a replayer that does not count bytes yet still decode; bad byte counts do not', () => {
    const { bytes_sent: _s, bytes_received: _r, ...older } = SAMPLES.stats;
    assert.deepEqual(decode(encode(older), 'stats'), older);
    assert.throws(() => decode(encode({ ...older, bytes_sent: 'many' as unknown as number }), 'stats'), ProtocolError);
  });

  test('a binary body survives as the same bytes', () => {
    const body = new Uint8Array([0, 1, 2, 250, 255]);
    const back = decode(encode({ ...SAMPLES.records, records: [{ ...rec, body }] }), 'records');
    const got = back.records[0].body;
    assert.ok(got instanceof Uint8Array, `body is a ${typeof got}`);
    assert.deepEqual([...got], [...body]);
  });

  test('a message from an independent msgpack encoder decodes (self-describing)', () => {
    assert.deepEqual(decode(pack(SAMPLES.heartbeat), 'heartbeat'), SAMPLES.heartbeat);
  });
});

describe('protocol: decode rejects with ProtocolError', () => {
  const hb = SAMPLES.heartbeat;
  // [bytes, expected kinds, why]
  const rows: Array<[Uint8Array, MsgKind[], string]> = [
    [new Uint8Array([]), ['heartbeat'], 'no bytes'],
    [new Uint8Array([0xc1]), ['heartbeat'], 'a byte msgpack never uses'],
    [new TextEncoder().encode('{"v":1,"kind":"heartbeat"}'), ['heartbeat'], 'JSON, not msgpack'],
    [encode(hb).subarray(0, 10), ['heartbeat'], 'truncated'],
    [pack(42), ['heartbeat'], 'a number, not a map'],
    [pack(null), ['heartbeat'], 'nil'],
    [pack([1, 'heartbeat']), ['heartbeat'], 'an array'],
    [pack({ ...hb, v: 2 }), ['heartbeat'], 'a newer version'],
    [pack({ ...hb, v: '1' }), ['heartbeat'], 'version as a string'],
    [pack({ kind: 'heartbeat', sender: 'x', id: 'r1', state: 'up', capacity: 1, inflight: 0 }), ['heartbeat'], 'no version'],
    [encode(hb), ['stats'], 'the wrong kind'],
    [pack({ ...hb, kind: 'nonsense' }), ['heartbeat'], 'an unknown kind'],
    [pack({ ...hb, kind: undefined }), ['heartbeat'], 'no kind'],
    [pack({ ...hb, id: undefined }), ['heartbeat'], 'heartbeat without id'],
    [pack({ ...hb, id: 'a.b' }), ['heartbeat'], 'heartbeat id that is not a subject token'],
    [pack({ ...hb, capacity: '10' }), ['heartbeat'], 'capacity as a string'],
    [pack({ ...SAMPLES.records, records: [{ ...rec, ts: undefined }] }), ['records'], 'a record without ts'],
    [pack({ ...SAMPLES.records, records: [{ ...rec, ts: Number.NaN }] }), ['records'], 'a record with ts NaN'],
    [pack({ ...SAMPLES.records, records: 'nope' }), ['records'], 'records not an array'],
    [pack({ ...SAMPLES.dispatch, records: [rec] }), ['dispatch'], 'a dispatch record without due/copy'],
    [pack({ ...SAMPLES.assign, records: [{ ...due, copy: undefined }] }), ['assign'], 'an assigned record without copy'],
    [pack({ ...SAMPLES.source_end, counts: undefined }), ['source_end'], 'source_end without counts'],
    [pack({ ...SAMPLES.dispatch_end, copies: undefined }), ['dispatch_end'], 'dispatch_end without copies'],
    [pack({ ...SAMPLES.router, done: 'yes' }), ['router'], 'router done not a boolean'],
    [pack({ ...SAMPLES.stats, latency: undefined }), ['stats'], 'stats without latency'],
    [pack({ ...SAMPLES.status, records: undefined }), ['status'], 'status without records'],
    [pack({ ...SAMPLES.ended, exit_code: '0' }), ['ended'], 'ended with exit_code a string'],
    [pack({ ...SAMPLES.control, value: 'fast' }), ['control'], 'control value not a number'],
    [pack({ ...SAMPLES.control_reply, view: undefined }), ['control_reply'], 'control reply without a view'],
    // Values JSON.stringify or String cannot print must still give a ProtocolError.
    [Uint8Array.from([0x82, 0xa1, 0x76, 0x01, 0xa4, 0x6b, 0x69, 0x6e, 0x64, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1]), ['heartbeat'], 'kind a uint64 (decoded as a BigInt)'],
    [pack({ ...hb, v: { toString: 1 } }), ['heartbeat'], 'version a map with a toString key'],
    [pack({ ...hb, kind: { toString: 1 } }), ['heartbeat'], 'kind a map with a toString key'],
  ];
  for (const [bytes, kinds, why] of rows) {
    test(`${why} (expecting ${kinds.join('|')})`, () => {
      const err = rejection(bytes, ...kinds);
      assert.ok(err.message.length > 0);
    });
  }

  test('the error says which version it got', () => {
    assert.match(rejection(pack({ ...hb, v: 2 }), 'heartbeat').message, /version 2/);
  });

  test('the error says which kind it got and wanted', () => {
    const m = rejection(encode(hb), 'stats', 'ended').message;
    assert.ok(m.includes('"heartbeat"') && m.includes('stats|ended'), m);
  });

  test('property: random bytes never throw anything but ProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.subarray(ALL_KINDS, { minLength: 1 }), (bytes, kinds) => {
        try {
          decode(bytes, ...kinds);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw new Error(`bytes ${hex(bytes)}: ${String(err)}`);
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('property: valid messages with bytes flipped, cut or appended never throw anything but ProtocolError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ALL_KINDS),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 8 }),
        (kind, flips, cut, tail) => {
          const good = encode(SAMPLES[kind]);
          const bytes = new Uint8Array([...good.subarray(0, (cut % (good.length + 1)) || good.length), ...tail]);
          for (const [at, b] of flips) if (bytes.length) bytes[at % bytes.length] = b;
          try {
            decode(bytes, kind);
          } catch (err) {
            if (!(err instanceof ProtocolError)) throw new Error(`${kind}, bytes ${hex(bytes)}: ${String(err)}`);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('property: any msgpack value that is not a well-formed message is a ProtocolError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ v: fc.constant(1), kind: fc.constantFrom(...ALL_KINDS) }, { requiredKeys: ['v', 'kind'] }).chain((m) => fc.dictionary(fc.string(), fc.anything()).map((d) => ({ ...d, ...m })))), (value) => {
        let bytes: Uint8Array;
        try {
          bytes = pack(value);
        } catch {
          return; // not packable (e.g. a symbol): nothing to decode
        }
        try {
          decode(bytes, ...ALL_KINDS);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw new Error(`${JSON.stringify(value)}: ${String(err)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('garbage does not leave state behind: valid messages still decode after it', () => {
    const junk = [
      new Uint8Array([0xd4, 0x72, 0x40, 0x91, 0xa1, 0x78, 0x01]), // a msgpackr record definition
      new Uint8Array([0xd5, 0x72, 0x40, 0x01, 0x91, 0xa1, 0x78, 0x01]),
      new Uint8Array([0xc1, 0xc1]),
    ];
    for (const j of junk) {
      try {
        decode(j, 'heartbeat');
      } catch {
        // expected
      }
      const msg = { ...SAMPLES.heartbeat, capacity: 64, inflight: 65 }; // fixints 0x40, 0x41
      assert.deepEqual(decode(encode(msg), 'heartbeat'), msg, `after ${Buffer.from(j).toString('hex')}`);
    }
  });
});

describe('protocol: subjects and names', () => {
  test('every subject of a job is built here, under havok.<job>.', () => {
    const all = jobSubjects('demo', 'r1');
    const live = Object.keys(subjects).filter((s) => !s.startsWith('checkpoint'));
    assert.deepEqual(all.map((s) => s.split('.')[2]).sort(), live.sort(), 'one of each subject but the checkpoints');
    for (const s of all) assert.match(s, /^havok\.demo\.[a-z]+(\.r1)?$/, s);
    assert.equal(new Set(all).size, all.length, 'all distinct');
    assert.equal(subjects.replayer('demo', 'r1'), 'havok.demo.replayer.r1');
  });

  // [job id, stream, consumer]
  const rows: Array<[string, string, string]> = [
    ['demo', 'HAVOK_demo', 'timewheel_demo'],
    ['a-b_c', 'HAVOK_a-b_c', 'timewheel_a-b_c'],
    ['a.b c*', 'HAVOK_a_b_c_', 'timewheel_a_b_c_'],
  ];
  for (const [job, stream, consumer] of rows) {
    test(`stream and consumer of job ${JSON.stringify(job)}`, () => {
      assert.equal(streamName(job), stream);
      assert.equal(consumerName(job), consumer);
    });
  }

  test('SAFE_TOKEN: subject tokens only', () => {
    for (const ok of ['a', 'replayer-1', 'A_b-9', 'x'.repeat(128)]) assert.ok(SAFE_TOKEN.test(ok), ok);
    for (const bad of ['', 'a.b', 'a b', 'a*', 'a>', 'x'.repeat(129)]) assert.ok(!SAFE_TOKEN.test(bad), JSON.stringify(bad));
  });
});

describe('protocol: per-kind versions', () => {
  /**
   * The next build as it would ship a heartbeat change nobody older can read (a required `load`):
   * heartbeat goes to version 2 and still reads 1 during the rolling upgrade; no other kind moves.
   */
  const NEXT: KindTable = {
    ...KINDS,
    heartbeat: { v: 2, accepts: [1, 2], shape: (m) => KINDS.heartbeat.shape(m) && (m.v === 1 || typeof m.load === 'number') },
  };
  const hbV2 = { ...SAMPLES.heartbeat, v: 2, load: 0.5 };

  test('every kind reads the version it sends', () => {
    for (const kind of ALL_KINDS) assert.ok((KINDS[kind].accepts as readonly number[]).includes(KINDS[kind].v), kind);
  });

  test('a newer version of one kind is rejected, naming kind and version; other kinds still decode', () => {
    const m = rejection(pack(hbV2), 'heartbeat').message;
    assert.ok(m.includes('heartbeat') && m.includes('version 2') && m.includes('(1)'), m);
    for (const kind of ALL_KINDS) assert.deepEqual(decode(encode(SAMPLES[kind]), kind), SAMPLES[kind], kind);
  });

  test('during a rolling upgrade the newer receiver reads both versions of the changed kind, and every other kind', () => {
    assert.deepEqual(decodeWith(NEXT, pack(hbV2), ['heartbeat']), hbV2);
    assert.deepEqual(decodeWith(NEXT, encode(SAMPLES.heartbeat), ['heartbeat']), SAMPLES.heartbeat, 'a version-1 heartbeat from an older replayer');
    for (const kind of ALL_KINDS) assert.deepEqual(decodeWith(NEXT, encode(SAMPLES[kind]), [kind]), SAMPLES[kind], kind);
  });

  test('the newer receiver still checks the newer shape and rejects versions it does not know', () => {
    const { load: _l, ...noLoad } = hbV2;
    assert.match(thrown(() => decodeWith(NEXT, pack(noLoad), ['heartbeat']), 'v2 without load').message, /malformed heartbeat message \(version 2\)/);
    assert.match(thrown(() => decodeWith(NEXT, pack({ ...hbV2, v: 3 }), ['heartbeat']), 'v3').message, /heartbeat message version 3 .*\(1, 2\)/);
    // The bump was heartbeat's alone: a stats message at version 2 is still unknown to both builds.
    const statsV2 = pack({ ...SAMPLES.stats, v: 2 });
    assert.match(thrown(() => decodeWith(NEXT, statsV2, ['stats']), 'stats v2, next build').message, /stats message version 2/);
    assert.match(rejection(statsV2, 'stats').message, /stats message version 2/);
  });

  test('an optional field added later may be absent (a sender that predates it)', () => {
    const { boot: _b, ...oldHeartbeat } = SAMPLES.heartbeat;
    assert.deepEqual(decode(encode(oldHeartbeat), 'heartbeat'), oldHeartbeat);
    const { boot: _s, bytes_sent: _bs, bytes_received: _br, ...oldStats } = SAMPLES.stats;
    assert.deepEqual(decode(encode(oldStats), 'stats'), oldStats);
    // Absent is fine, present and wrong is not.
    assert.match(rejection(pack({ ...oldHeartbeat, boot: 'a.b' }), 'heartbeat').message, /malformed heartbeat/);
  });
});

describe('protocol: subject → kinds table', () => {
  const channels = Object.keys(SUBJECT_KINDS) as Channel[];

  test('every subject builder has an entry, and every entry is a subject, the control reply or the lease value', () => {
    for (const s of Object.keys(subjects)) assert.ok(s in SUBJECT_KINDS, `subjects.${s} missing from SUBJECT_KINDS`);
    const others = channels.filter((c) => !(c in subjects));
    assert.deepEqual(others.sort(), ['control_reply', 'lease']);
  });

  test('every kind travels on some channel, and every listed kind is defined', () => {
    const listed = new Set<string>(channels.flatMap((c) => SUBJECT_KINDS[c]));
    assert.deepEqual([...listed].sort(), [...ALL_KINDS].sort());
    assert.deepEqual(Object.keys(KINDS).sort(), [...ALL_KINDS].sort(), 'KINDS defines exactly the message kinds');
  });

  test('decodeOn accepts a kind exactly on the channels that list it', () => {
    for (const kind of ALL_KINDS) {
      const bytes = encode(SAMPLES[kind]);
      for (const c of channels) {
        if ((SUBJECT_KINDS[c] as readonly string[]).includes(kind)) {
          assert.deepEqual(decodeOn(c, bytes), SAMPLES[kind], `${kind} on ${c}`);
        } else {
          const m = thrown(() => decodeOn(c, bytes), `${kind} on ${c}`).message;
          assert.ok(m.includes(`"${kind}" on ${c}`) && m.includes(SUBJECT_KINDS[c].join('|')), m);
        }
      }
    }
  });

  test('decodeOn returns the subject\'s union, narrowed by kind', () => {
    const m = decodeOn('dispatch', encode(SAMPLES.dispatch_end));
    assert.equal(m.kind, 'dispatch_end');
    if (m.kind === 'dispatch_end') assert.equal(m.copies, SAMPLES.dispatch_end.copies); // compiles only if narrowed
  });
});

/**
 * Golden bytes: each kind's sample as it is on the wire, so an accidental wire change (a field
 * renamed, reordered or retyped, a codec option or msgpackr upgrade that changes the encoding)
 * fails here. Regenerate after an intended change, see test/fixtures/protocol/README.md.
 * Resolved from the repository root: the compiled test runs from dist/test/unit/.
 */
const GOLDEN_FILE = fileURLToPath(new URL('../../../test/fixtures/protocol/golden.json', import.meta.url));
/** The same samples as plain msgpack maps: the encoding before records (never regenerated). */
const GOLDEN_MAPS_FILE = fileURLToPath(new URL('../../../test/fixtures/protocol/golden-maps.json', import.meta.url));
/** `kind@version` → hex of its bytes. Older versions stay while a kind still reads them. */
type Golden = Record<string, string>;
const goldenKey = (kind: MsgKind, v: number): string => `${kind}@${v}`;

function loadGolden(): Golden {
  const found: Golden = existsSync(GOLDEN_FILE) ? (JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as Golden) : {};
  if (process.env.UPDATE_GOLDEN !== '1') return found;
  const next: Golden = {};
  for (const kind of ALL_KINDS) {
    for (const v of KINDS[kind].accepts) {
      const key = goldenKey(kind, v);
      if (v === KINDS[kind].v) next[key] = hex(encode(SAMPLES[kind]));
      else if (found[key] !== undefined) next[key] = found[key]; // bytes an older sender wrote: never regenerated
    }
  }
  mkdirSync(dirname(GOLDEN_FILE), { recursive: true });
  writeFileSync(GOLDEN_FILE, `${JSON.stringify(next, null, 2)}\n`);
  return next;
}

describe('protocol: golden bytes', () => {
  const golden = loadGolden();
  const regenerate = 'if the change is intended: UPDATE_GOLDEN=1 node --test dist/test/unit/protocol.test.js';

  for (const kind of ALL_KINDS) {
    test(`${kind}: encodes to its golden bytes, which decode to the sample`, () => {
      const key = goldenKey(kind, KINDS[kind].v);
      const want = golden[key];
      assert.ok(want !== undefined, `no golden bytes for ${key} in ${GOLDEN_FILE}; ${regenerate}`);
      assert.equal(hex(encode(SAMPLES[kind])), want, `${key} encodes differently: a wire change; ${regenerate}`);
      assert.deepEqual(decode(Buffer.from(want, 'hex'), kind), SAMPLES[kind]);
    });
  }

  test('plain-map bytes, as builds before the records encoding wrote them, still decode to each sample', () => {
    const maps = JSON.parse(readFileSync(GOLDEN_MAPS_FILE, 'utf8')) as Golden;
    for (const kind of ALL_KINDS) {
      const bytes = maps[goldenKey(kind, KINDS[kind].v)];
      assert.ok(bytes !== undefined, `no plain-map bytes for ${kind}`);
      assert.deepEqual(decode(Buffer.from(bytes, 'hex'), kind), SAMPLES[kind], kind);
    }
  });

  test('every golden entry is a kind at a version this build reads (older ones still decode)', () => {
    for (const [key, bytes] of Object.entries(golden)) {
      const [kind, v] = key.split('@') as [MsgKind, string];
      assert.ok(kind in KINDS, `${key}: unknown kind`);
      assert.ok((KINDS[kind].accepts as readonly number[]).includes(Number(v)), `${key}: version no longer read; ${regenerate}`);
      const m = decode(Buffer.from(bytes, 'hex'), kind);
      assert.equal(m.v, Number(v), key);
    }
  });
});
