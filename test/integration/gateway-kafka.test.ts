/**
 * The gateway's Kafka output at the wire: a real `havok gateway` process with kafkajs's
 * idempotent producer (acks all, gzip, batches by count and linger) against the Kafka-protocol
 * broker of test/support: every accepted line is a message on the repo's topic, with its id
 * header; Kafka unreachable gives 503 and a clear log line, never 200; a byte limit without a
 * linger exits 2 naming the key. Each compression (gzip, snappy, lz4, zstd) reaches the broker as
 * record batches with that codec's attribute, which decode back to the lines exactly. TLS and
 * SASL/PLAIN reach kafkajs: the producer checks the broker's certificate and authenticates.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

  test('compression snappy, lz4, zstd (and gzip): batches carry the codec and decode back to the lines', async () => {
    await using fx = await havokFixture();
    // Record-batch attribute bits 0–2 of each codec (Kafka protocol).
    const codecs = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
    const broker = await startKafkaBroker({ topics: Object.fromEntries(Object.keys(codecs).map((c) => [`t-${c}`, 1])) });
    fx.defer(() => broker.stop());
    const blocks = Object.keys(codecs).map((c) => `[gateway.producers.${c}]\ntype = "kafka"\nbrokers = ["${broker.address}"]\ntopic = "t-${c}"\ncompression = "${c}"\nbatch_count = 100\n[gateway.repos.${c}]\noutput = "${c}"\n`);
    const gw = await startGateway(fx, ['store_timeout_ms = 5000', ...blocks].join('\n'));
    // Lines that compress (repeated keys) and some that do not (unicode, random-looking text).
    const lines = batchLines(0, 240).trimEnd().split('\n');
    lines.push(JSON.stringify({ ts: 1, method: 'POST', url: '/ü/ß/€', body: 'x'.repeat(5000) }), JSON.stringify({ ts: 2, method: 'GET', url: `/${Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7919) % 256)).toString('base64')}` }));
    const expected = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const byText = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));
    for (const [codec, attribute] of Object.entries(codecs)) {
      const r = await post(gw.url, codec, lines.join('\n') + '\n', { key: codec });
      assert.deepEqual([r.status, r.json], [200, { accepted: lines.length, dropped: 0, malformed: 0, sampled_out: 0 }], codec);
      const batches = broker.compressions(`t-${codec}`, 0);
      assert.ok(batches.length >= 3, `${codec}: ${lines.length} lines in batches of 100`);
      assert.deepEqual(new Set(batches), new Set([attribute]), `${codec}: every batch has compression attribute ${attribute}`);
      const stored = broker.records(`t-${codec}`, 0).map((m) => {
        const { received_ms: received, ...line } = JSON.parse(m.value!.toString('utf8')) as Record<string, unknown>;
        assert.equal(typeof received, 'number');
        return line;
      });
      assert.deepEqual(stored.sort(byText), [...expected].sort(byText), `${codec}: the lines decode back exactly`);
    }
  });

  test('TLS and SASL/PLAIN: the producer checks the broker certificate against ssl.ca and authenticates; a wrong password gets 503', async (t) => {
    await using fx = await havokFixture();
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(fx.dir, 'key.pem'), '-out', join(fx.dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    if (made.status !== 0) return t.skip(`openssl could not make a certificate: ${made.stderr ?? made.error}`);
    const broker = await startKafkaBroker({ topics: { t: 1 }, tls: { key: readFileSync(join(fx.dir, 'key.pem')), cert: readFileSync(join(fx.dir, 'cert.pem')) }, sasl: { username: 'havok', password: 's3cret' } });
    fx.defer(() => broker.stop());
    // ca relative to the config file (in fx.dir, as the certificate).
    const producer = (label: string, password: string): string =>
      `[gateway.producers.${label}]\ntype = "kafka"\nbrokers = ["${broker.address}"]\ntopic = "t"\nssl = { ca = "cert.pem" }\nsasl = { mechanism = "plain", username = "havok", password = "${password}" }\n[gateway.repos.${label}]\noutput = "${label}"\n`;
    const gw = await startGateway(fx, ['store_timeout_ms = 3000', producer('good', 's3cret'), producer('bad', 'wrong')].join('\n'));
    const r = await post(gw.url, 'good', batchLines(0, 20), { key: 'tls0' });
    assert.deepEqual([r.status, r.json], [200, { accepted: 20, dropped: 0, malformed: 0, sampled_out: 0 }]);
    assert.deepEqual(broker.records('t', 0).map((m) => (JSON.parse(m.value!.toString('utf8')) as { url: string }).url), Array.from({ length: 20 }, (_, i) => `/b0/${i}`));
    assert.ok((broker.calls.SaslAuthenticate ?? 0) >= 1, 'the producer authenticated');
    const refused = await post(gw.url, 'bad', batchLines(1, 5));
    assert.equal(refused.status, 503);
    assert.equal(broker.records('t', 0).length, 20, 'nothing stored without authenticating');
    gw.proc.proc.kill('SIGTERM');
    assert.match((await gw.proc.done).stderr, /"err":"SASL PLAIN authentication failed[^\n]*"msg":"Kafka did not acknowledge a batch/);
  });

  test('an unreadable ssl file: exit 2 naming the key', async () => {
    await using fx = await havokFixture({ nats: false });
    const cfg = `${fx.dir}/tls.toml`;
    writeFileSync(cfg, `[gateway.producers.k]\ntype = "kafka"\nbrokers = "127.0.0.1:1"\nssl = { ca = "nowhere/ca.pem" }\n[gateway.repos.web]\noutput = "k"\n`);
    const r = await fx.run(['gateway', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /gateway\.producers\.k\.ssl\.ca: cannot read .*nowhere\/ca\.pem/);
  });

  test('an unknown compression: exit 2 naming the key', async () => {
    await using fx = await havokFixture({ nats: false });
    const cfg = `${fx.dir}/codec.toml`;
    writeFileSync(cfg, `[gateway.producers.k]\ntype = "kafka"\nbrokers = "127.0.0.1:1"\ncompression = "brotli"\n[gateway.repos.web]\noutput = "k"\n`);
    const r = await fx.run(['gateway', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /gateway\.producers\.k\.compression/);
    assert.match(r.stderr, /lz4/, 'the error lists the compressions there are');
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
