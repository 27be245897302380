/**
 * The pure parts of the Kafka source: where each partition starts and ends, and the
 * `[fetcher.kafka]` keys. The source itself is tested at the wire in integration/kafka.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { chainOptions } from '../../services/fetcher/source.js';
import { kafkaChain } from '../../services/fetcher/sources/kafka/index.js';
import { offsetRange } from '../../services/fetcher/sources/kafka/offsets.js';

describe('offsetRange', () => {
  const w = { low: 10, high: 100 };
  test('start: explicit offset, else begin, else the oldest', () => {
    assert.deepEqual(offsetRange(w), { start: 10, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: 'oldest' }), { start: 10, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: 'earliest' }), { start: 10, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: 'newest' }), { start: 100, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: 'latest' }), { start: 100, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: 42 }), { start: 42, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: 60, beginOffset: 50 }), { start: 60, end: 100 }, 'an explicit offset wins over begin');
    assert.deepEqual(offsetRange({ ...w, beginOffset: 50 }), { start: 50, end: 100 });
  });
  test('offsets outside the log are clamped; negative counts back from the end', () => {
    assert.deepEqual(offsetRange({ ...w, offset: 5 }), { start: 10, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: 500 }), { start: 100, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: -30 }), { start: 70, end: 100 });
    assert.deepEqual(offsetRange({ ...w, offset: -500 }), { start: 10, end: 100 });
  });
  test('end: the end-time offset, else the high watermark; never before the start', () => {
    assert.deepEqual(offsetRange({ ...w, beginOffset: 50, endOffset: 80 }), { start: 50, end: 80 });
    assert.deepEqual(offsetRange({ ...w, beginOffset: 90, endOffset: 80 }), { start: 90, end: 90 });
    assert.deepEqual(offsetRange({ ...w, endOffset: 1000 }), { start: 10, end: 100 });
    assert.deepEqual(offsetRange({ low: 0, high: 0 }), { start: 0, end: 0 }, 'an empty partition');
  });
});

describe('[fetcher.kafka] config', () => {
  const load = (set: string[], env: Record<string, string> = {}) => loadConfig({ set: ['fetcher.type="kafka-single-partition"', ...set], env });

  test('defaults', () => {
    const k = load([]).fetcher.kafka;
    assert.deepEqual(k.brokers, []);
    assert.equal(k.client_id, 'havok');
    assert.equal(k.retries, 5);
    assert.equal(k.backoff_ms, 300);
    assert.equal(k.max_bytes_per_partition, 1 << 20);
    assert.equal(k.offset, undefined);
  });

  test('brokers: a list, or a comma-separated string (as from the environment)', () => {
    assert.deepEqual(load(['fetcher.kafka.brokers=["a:9092","b:9092"]']).fetcher.kafka.brokers, ['a:9092', 'b:9092']);
    assert.deepEqual(load([], { HAVOK_FETCHER_KAFKA_BROKERS: 'a:9092, b:9092,' }).fetcher.kafka.brokers, ['a:9092', 'b:9092']);
  });

  test('bad values name their key', () => {
    assert.throws(
      () => load(['fetcher.kafka.offset="middle"', 'fetcher.kafka.partitions=[-1]', 'fetcher.kafka.sasl={ mechanism = "kerberos", username = "u", password = "p" }', 'fetcher.kafka.retries=-1', 'fetcher.kafka.tls=true']),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const keys = err.issues.map((i) => i.key).sort();
        assert.deepEqual(keys, ['fetcher.kafka.offset', 'fetcher.kafka.partitions.0', 'fetcher.kafka.retries', 'fetcher.kafka.sasl.mechanism', 'fetcher.kafka.tls'].sort());
        assert.match(err.message, /fetcher\.kafka\.offset: expected "oldest", "newest" or an offset/);
        return true;
      },
    );
  });

  test('TLS file paths are relative to the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'havok-kafka-'));
    const file = join(dir, 'job.toml');
    writeFileSync(file, '[fetcher]\ntype = "kafka"\n[fetcher.kafka]\nbrokers = ["k:9093"]\ntopic = "t"\nssl = { ca = "certs/ca.pem", reject_unauthorized = false }\nsasl = { mechanism = "scram-sha-512", username = "u", password = "p" }\n');
    const k = loadConfig({ file }).fetcher.kafka;
    assert.deepEqual(k.ssl, { ca: join(dir, 'certs/ca.pem'), reject_unauthorized: false });
    assert.equal(k.sasl?.mechanism, 'scram-sha-512');
  });

  test('the analyzer of the values: [fetcher.kafka] format over [fetcher.file] format', () => {
    const format = (cfg: ReturnType<typeof load>): string => chainOptions(cfg, kafkaChain(cfg.fetcher.kafka)).format;
    assert.equal(format(load([])), 'combined');
    assert.equal(format(load(['fetcher.kafka.format="jsonl"'])), 'jsonl');
  });
});
