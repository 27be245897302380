/**
 * The gateway's Kafka output at the wire: a real `havok gateway` process with kafkajs's
 * idempotent producer (acks all, gzip, batches by count and linger) against the Kafka-protocol
 * broker of test/support: every accepted line is a message on the repo's topic, with its id
 * header; Kafka unreachable gives 503 and a clear log line, never 200; a byte limit without a
 * linger exits 2 naming the key.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { havokFixture } from '../support/fixture.js';
import { batchLines, post, startGateway } from '../support/gateway.js';
import { startKafkaBroker } from '../support/kafka-broker.js';

const producerToml = (address: string, extra = ''): string => `store_timeout_ms = 3000
[gateway.producers.k]
type = "kafka"
brokers = ["${address}"]
topic_prefix = "traffic-"
batch_count = 100
linger_ms = 20
${extra}
[gateway.repos.web]
output = "k"
`;

describe('gateway → Kafka', () => {
  test('accepted lines are messages on the repo\'s topic (gzip, idempotent, acks all); unreachable Kafka: 503, never 200', async () => {
    await using fx = await havokFixture();
    const broker = await startKafkaBroker({ topics: { 'traffic-web': 1 } });
    fx.defer(() => broker.stop());
    const gw = await startGateway(fx, producerToml(broker.address));
    const r = await post(gw.url, 'web', batchLines(0, 250) + 'garbage\n', { key: 'b0' });
    assert.deepEqual([r.status, r.json], [200, { accepted: 250, dropped: 0, malformed: 1, sampled_out: 0 }]);
    const stored = broker.records('traffic-web', 0);
    assert.equal(stored.length, 250);
    // Batches of one POST may arrive in any order (up to 5 produce requests in flight, kept in order
    // by a real broker's sequence numbers, which this test broker does not check): compare as sets.
    const values = stored.map((m) => JSON.parse(m.value!.toString('utf8')) as Record<string, unknown>);
    assert.deepEqual(new Set(values.map((v) => v.url)), new Set(Array.from({ length: 250 }, (_, i) => `/b0/${i}`)));
    assert.ok(values.every((v) => typeof v.received_ms === 'number'));
    const ids = new Map(stored.map((m, i) => [m.headers.find(([k]) => k === 'havok-msg-id')?.[1]?.toString(), values[i]!.url]));
    assert.equal(ids.get('b0:0'), '/b0/0', 'each message carries its line\'s id');
    assert.equal(ids.get('b0:1'), '/b0/1');
    assert.ok((broker.calls.InitProducerId ?? 0) >= 1, 'the producer is idempotent (it asked for a producer id)');
    // Two POSTs at once share batches; each is answered once its lines are acknowledged.
    const both = await Promise.all([post(gw.url, 'web', batchLines(1, 30)), post(gw.url, 'web', batchLines(2, 30))]);
    assert.deepEqual(both.map((b) => b.json.accepted), [30, 30]);
    assert.equal(broker.records('traffic-web', 0).length, 310);

    await broker.stop();
    const down = await post(gw.url, 'web', batchLines(3, 10));
    assert.equal(down.status, 503);
    assert.equal(down.headers['retry-after'], '1');
    assert.match(String(down.json.error), /Kafka/);
    gw.proc.proc.kill('SIGTERM');
    const out = await gw.proc.done;
    assert.match(out.stderr, /Kafka did not acknowledge a batch/);
  });

  test('batch_bytes without linger_ms: exit 2 naming the key', async () => {
    await using fx = await havokFixture({ nats: false });
    const cfg = `${fx.dir}/bytes.toml`;
    writeFileSync(cfg, `[gateway.producers.k]\ntype = "kafka"\nbrokers = "127.0.0.1:1"\nbatch_bytes = 65536\n[gateway.repos.web]\noutput = "k"\n`);
    const r = await fx.run(['gateway', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /gateway\.producers\.k\.linger_ms: batch_bytes \(65536\) needs a linger_ms > 0/);
  });
});
