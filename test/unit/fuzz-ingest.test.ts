/**
 * The ingest side's decoders, fuzzed (no input may throw anything but the module's typed error):
 * a gateway body (gzip or not) through decodeBody (IngestError only), any text through a repo's
 * pipeline (never throws; every non-blank line is accepted, dropped or malformed exactly once),
 * and the traffic filter language from any key/value pairs (FilterError only; a compiled filter
 * never throws on any stored line). FUZZ_RUNS cases each (test/support/fuzz.ts).
 */
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeBody } from '../../services/gateway/body.js';
import { ByteBudget } from '../../services/gateway/budget.js';
import { IngestError } from '../../services/gateway/errors.js';
import { compileRepo, processBody } from '../../services/gateway/pipeline/pipeline.js';
import { gatewaySchema } from '../../services/gateway/settings.js';
import { compileFilter, FILTER_KEYS, FilterError, parseFilter } from '../../services/traffic/filter.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS, onlyThrows } from '../support/fuzz.js';

const runs = { numRuns: FUZZ_RUNS };

/** A repo using every executer and constraint kind. */
const pipeline = compileRepo(
  gatewaySchema.parse({
    repos: {
      r: {
        constraint: { required: ['url'], equals: { kind: 'web' }, matches: { url: '^/' } },
        executers: [
          { type: 'split', field: 'request', separator: ' ' },
          { type: 'names', field: 'request', names: ['method', 'url'] },
          { type: 'rename', fields: { t: 'time' } },
          { type: 'timestamp', field: 'time' },
          { type: 'drop', fields: ['time', 'secret'] },
          { type: 'set', fields: { kind: 'web' } },
        ],
      },
    },
  }).repos.r!,
);

/** Lines: JSON objects shaped like requests (with random values), any JSON, or any text. */
const lineArb = fc.oneof(
  fc.record({ request: fc.oneof(fc.string(), fc.constant('GET /a?b=1')), t: fc.oneof(fc.string(), fc.integer(), fc.constant('2024-01-01T00:00:00Z')), url: fc.string(), secret: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  fc.json(),
  fc.string({ maxLength: 80, unit: 'binary' }),
);
const bodyArb = fc.array(lineArb, { maxLength: 20 }).map((ls) => ls.join('\n'));

describe('fuzz: gateway body and pipeline', { timeout: FUZZ_TIMEOUT_MS }, () => {
  test('any text: every non-blank line accepted, dropped or malformed exactly once, never an exception', () => {
    fc.assert(
      fc.property(bodyArb, (text) => {
        const r = processBody(text, 'r', pipeline, 1_700_000_000_000);
        const lines = text.split('\n').filter((l) => l.trim() !== '').length;
        return r.stored.length + r.dropped.length + r.malformed.length === lines;
      }),
      runs,
    );
  });

  test('any bytes, raw or as (possibly cut) gzip: text or IngestError only', async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => ({ raw: Buffer.from(b), gzip: false })),
      fc.tuple(bodyArb, fc.nat()).map(([t, cut]) => {
        const z = gzipSync(t);
        return { raw: z.subarray(0, cut % (z.length + 1)), gzip: true };
      }),
      fc.uint8Array({ maxLength: 200 }).map((b) => ({ raw: Buffer.from(b), gzip: true })),
    );
    await fc.assert(
      fc.asyncProperty(bytes, async ({ raw, gzip }) => {
        const lim = { maxBytes: 4096, budget: new ByteBudget(1 << 20), onTaken: () => undefined };
        try {
          await decodeBody(raw, gzip ? 'gzip' : 'identity', lim);
          return true;
        } catch (err) {
          if (err instanceof IngestError) return true;
          throw err;
        }
      }),
      { numRuns: Math.min(FUZZ_RUNS, 20_000) },
    );
  });
});

describe('fuzz: traffic filter language', { timeout: FUZZ_TIMEOUT_MS }, () => {
  const key = fc.oneof(fc.constantFrom(...FILTER_KEYS), fc.string({ maxLength: 10 }).map((k) => `field.${k}`), fc.string({ maxLength: 10 }));
  const value = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constantFrom('15m', 'now', '5xx', '/x/', '/[/', '/items/:id', 'GET', '2024-01-01T00:00:00Z', '*', '**', '{a,b}', '[z-a]'));
  const storedLine = fc.dictionary(fc.constantFrom('url', 'method', 'status', 'host', 'trace_id', 'ts', 'received_ms', 'x', 'headers'), fc.anything(), { maxKeys: 6 });

  test('any key/value pairs: a filter or FilterError; a compiled filter never throws on any line', () => {
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 5 }), fc.array(storedLine, { maxLength: 5 }), (raw, lines) => {
        let filter;
        try {
          filter = parseFilter(raw, { now: 1_700_000_000_000 });
        } catch (err) {
          if (err instanceof FilterError) return true;
          throw err;
        }
        return onlyThrows(FilterError, () => {
          const c = compileFilter(filter);
          for (const l of lines) c.matches(l as never, 'repo');
        });
      }),
      runs,
    );
  });
});
