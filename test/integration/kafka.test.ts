/**
 * Kafka source at the wire (DESIGN §5): the real kafkajs client produces to and consumes from a
 * small Kafka-protocol broker (test/support/kafka-broker.ts) over TCP. A topic with 3 partitions
 * holds interleaved records and a few garbage values; a job window selects exactly the records
 * inside it, in timestamp order; nothing is committed to any consumer group; unreachable brokers
 * get retries with backoff, then a clear error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import kafkajs from 'kafkajs';
import { loadConfig, type HavokConfig } from '../../shared/config.js';
import { ConfigError, SourceError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import type { ChainRecord } from '../../services/fetcher/analyzers/chain.js';
import { openSources, type Source } from '../../services/fetcher/source.js';
import { startKafkaBroker, type KafkaBrokerHandle } from '../support/kafka-broker.js';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { startTarget } from '../support/target-server.js';
import { readReport, runHavok, writeJob } from '../support/havok-cli.js';
import { worstOvertake } from '../support/order.js';

const { Kafka, Partitioners, logLevel } = kafkajs;

const T0 = Date.UTC(2024, 0, 1, 12);
const TOTAL = 300;
const STEP_MS = 10;
/** Garbage values produced into partition 1, inside the job window by message timestamp. */
const GARBAGE = ['not a log line', '{"ts": "yesterday", "url": "/bad"}', ''];
const quiet = createLogger('fetcher', { test: 'kafka' });
quiet.level = 'silent';

/**
 * Record g has log time T0 + g·10 ms and goes to partition (g + ⌊g/7⌋) % 3: every partition holds
 * an interleaved share of the timeline. Sent in batches of 20 messages (several record batches
 * per partition); the message timestamp is the log time.
 */
async function fill(broker: KafkaBrokerHandle, topic: string, opts: { garbage?: boolean; total?: number } = {}): Promise<void> {
  const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const total = opts.total ?? TOTAL;
  for (let first = 0; first < total; first += 20) {
    const messages = [];
    for (let g = first; g < Math.min(first + 20, total); g++) {
      const ts = T0 + g * STEP_MS;
      messages.push({ partition: (g + Math.floor(g / 7)) % 3, timestamp: String(ts), value: JSON.stringify({ ts, method: 'GET', url: `/g/${g}` }) + '\n' });
    }
    if (opts.garbage && first === 100) {
      GARBAGE.forEach((value, i) => messages.push({ partition: 1, timestamp: String(T0 + 1005 + i), value }));
      messages.push({ partition: 1, timestamp: String(T0 + 1010), value: null as unknown as string });
    }
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
}

function config(broker: { address: string }, topic: string, extra: string[] = []): HavokConfig {
  return loadConfig({ set: ['fetcher.type="kafka-single-partition"', `fetcher.kafka.brokers="${broker.address}"`, `fetcher.kafka.topic="${topic}"`, 'fetcher.kafka.format="jsonl"', ...extra] });
}

/** The job's Kafka sources, through the registry (the kind's checks, then its open). */
const open = (cfg: HavokConfig): Promise<Source[]> => openSources(cfg, { log: quiet });

async function readAll(sources: Source[]): Promise<ChainRecord[][]> {
  const out: ChainRecord[][] = [];
  for (const s of sources) {
    const recs: ChainRecord[] = [];
    for await (const r of s.records) recs.push(r);
    out.push(recs);
  }
  return out;
}

const gOf = (r: ChainRecord): number => Number(r.url.split('/')[2]);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** k-way merge by timestamp, ties by source order: what the time wheel does. */
function merge(perSource: ChainRecord[][]): ChainRecord[] {
  return perSource
    .flatMap((recs, src) => recs.map((r, i) => ({ r, src, i })))
    .sort((a, b) => a.r.ts - b.r.ts || a.src - b.src || a.i - b.i)
    .map((x) => x.r);
}

describe('Kafka source through kafkajs', { timeout: 120_000 }, () => {
  let broker: KafkaBrokerHandle;
  before(async () => {
    broker = await startKafkaBroker({ topics: { access: 3, big: 3 } });
    await fill(broker, 'access', { garbage: true });
  });
  after(async () => {
    await broker?.stop();
  });

  test('a begin/end window replays exactly the records inside it, in timestamp order, with nothing committed', async () => {
    const commitsBefore = broker.calls.OffsetCommit ?? 0;
    // [T0 + 500 ms, T0 + 2500 ms): records 50…249, and the garbage (message time T0 + 1005…1010).
    const cfg = config(broker, 'access', [`job.begin=${T0 + 500}`, `job.end="${new Date(T0 + 2500).toISOString()}"`]);
    const sources = await openSources(cfg);
    assert.deepEqual(sources.map((s) => s.name), ['access/0', 'access/1', 'access/2']);
    const perSource = await readAll(sources);
    for (const recs of perSource) {
      const ts = recs.map((r) => r.ts);
      assert.deepEqual(ts, [...ts].sort((a, b) => a - b), 'each partition in its own (offset) order');
    }
    const merged = merge(perSource);
    assert.deepEqual(merged.map(gOf), range(50, 250), 'exactly the records inside the window, in timestamp order');
    assert.ok(perSource.every((recs) => recs.length > 50), 'every partition holds a share of the window');
    const read = sources.reduce((n, s) => n + s.counts.read, 0);
    const parseErrors = sources.reduce((n, s) => n + s.counts.parse_errors, 0);
    assert.equal(parseErrors, GARBAGE.length + 1, 'garbage values (and a null value) are parse errors');
    assert.equal(read, 200 + parseErrors, 'read = records + parse errors');
    const samples = sources[1].counts.samples;
    assert.ok(samples.some((s) => s.reason.startsWith('access/1: ') && s.text === 'not a log line'), JSON.stringify(samples));
    assert.equal(broker.calls.OffsetCommit ?? 0, commitsBefore, 'no offset committed');
    assert.ok(broker.groups().every((g) => g.startsWith('havok-havok-')), `throwaway groups only: ${broker.groups().join(',')}`);
  });

  test('no window: every record from the oldest offset to the high watermark', async () => {
    const perSource = await readAll(await open(config(broker, 'access')));
    assert.deepEqual(merge(perSource).map(gOf), range(0, TOTAL));
  });

  test('partitions and offsets: one partition, the last 5 records; newest reads nothing and joins no group', async () => {
    const [tail] = await readAll(await open(config(broker, 'access', ['fetcher.kafka.partitions=[2]', 'fetcher.kafka.offset=-5'])));
    const all = broker.records('access', 2).map((r) => JSON.parse(r.value!.toString()).url as string);
    assert.deepEqual(tail.map((r) => r.url), all.slice(-5));
    const joins = broker.calls.JoinGroup ?? 0;
    const sources = await open(config(broker, 'access', ['fetcher.kafka.offset="newest"']));
    assert.deepEqual((await readAll(sources)).map((r) => r.length), [0, 0, 0]);
    assert.equal(broker.calls.JoinGroup ?? 0, joins, 'nothing to read: no consumer');
  });

  test('memory bound: small fetches, partitions read one after another (as `havok plan` does)', async () => {
    await fill(broker, 'big', { total: 3000 });
    const fetches = broker.calls.Fetch ?? 0;
    const cfg = config(broker, 'big', ['fetcher.kafka.max_bytes_per_partition=1024']);
    const sources = await open(cfg);
    const perSource: ChainRecord[][] = [];
    for (const [i, s] of sources.entries()) {
      const recs: ChainRecord[] = [];
      for await (const r of s.records) recs.push(r);
      perSource.push(recs);
      if (i === 0) {
        // Partition 0 read to its end; 1 and 2 (~1000 records each) not read ahead: at most two
        // fetched batches each (~14 records in 1 KiB), whatever partition 0's reading took.
        assert.equal(broker.fetchedUpTo('big', 0), broker.records('big', 0).length);
        for (const p of [1, 2]) assert.ok(broker.fetchedUpTo('big', p) <= 60, `partition ${p} fetched up to ${broker.fetchedUpTo('big', p)}`);
      }
    }
    assert.deepEqual(merge(perSource).map(gOf), range(0, 3000));
    // 3000 records of ~60 bytes in ≥ 1 KiB fetches per partition: many fetches, each answering
    // at most ~1 record batch per partition, and paused partitions are not fetched.
    assert.ok((broker.calls.Fetch ?? 0) - fetches >= 20, `fetches: ${(broker.calls.Fetch ?? 0) - fetches}`);
  });

  test('closing every source early stops the consumer: it leaves its group', async () => {
    const leaves = broker.calls.LeaveGroup ?? 0;
    const sources = await open(config(broker, 'access'));
    for (const s of sources) {
      assert.equal((await s.records.next()).done, false);
      await s.records.return(undefined);
    }
    assert.equal(broker.calls.LeaveGroup ?? 0, leaves + 1);
  });

  test('bad [fetcher.kafka]: missing keys, unknown partition, unknown topic', async () => {
    await assert.rejects(open(loadConfig({ set: ['fetcher.type="kafka"'] })), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => i.key), ['fetcher.kafka.brokers', 'fetcher.kafka.topic']);
      return true;
    });
    await assert.rejects(open(config(broker, 'access', ['fetcher.kafka.partitions=[1,7]'])), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /fetcher\.kafka\.partitions: topic "access" has no partition 7/);
      return true;
    });
    await assert.rejects(open(config(broker, 'nope')), (err: unknown) => {
      assert.ok(err instanceof SourceError && !err.retryable, String(err));
      assert.match(err.message, new RegExp(`Kafka brokers ${broker.address}: could not read the metadata of topic "nope"`));
      return true;
    });
  });

  test('SASL/PLAIN: the right credentials read, wrong ones fail at once', async () => {
    const secured = await startKafkaBroker({ topics: { t: 2 }, sasl: { username: 'havok', password: 's3cret' } });
    try {
      const kafka = new Kafka({ brokers: [secured.address], sasl: { mechanism: 'plain', username: 'havok', password: 's3cret' }, logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      await producer.send({ topic: 't', messages: range(0, 10).map((g) => ({ partition: g % 2, value: JSON.stringify({ ts: T0 + g, url: `/g/${g}` }) })) });
      await producer.disconnect();
      const sasl = (password: string): string => `fetcher.kafka.sasl={ mechanism = "plain", username = "havok", password = "${password}" }`;
      const perSource = await readAll(await open(config(secured, 't', [sasl('s3cret')])));
      assert.deepEqual(merge(perSource).map(gOf), range(0, 10));
      const started = Date.now();
      await assert.rejects(open(config(secured, 't', [sasl('wrong'), 'fetcher.kafka.backoff_ms=2000'])), (err: unknown) => {
        assert.ok(err instanceof SourceError && !err.retryable, String(err));
        assert.match(err.message, new RegExp(`^Kafka brokers ${secured.address}: could not connect: SASL PLAIN authentication failed`));
        return true;
      });
      assert.ok(Date.now() - started < 2000, 'no retry on wrong credentials');
      await assert.rejects(open(config(secured, 't', ['fetcher.kafka.retries=0'])), SourceError, 'no credentials: the broker closes the connection');
    } finally {
      await secured.stop();
    }
  });

  test('TLS: the broker certificate checked against ssl.ca', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'havok-kafka-tls-'));
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    if (made.status !== 0) return t.skip(`openssl could not make a certificate: ${made.stderr ?? made.error}`);
    const cert = readFileSync(join(dir, 'cert.pem'));
    const secured = await startKafkaBroker({ topics: { t: 1 }, tls: { key: readFileSync(join(dir, 'key.pem')), cert } });
    try {
      const kafka = new Kafka({ brokers: [secured.address], ssl: { ca: [cert] }, logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      await producer.send({ topic: 't', messages: range(0, 5).map((g) => ({ value: JSON.stringify({ ts: T0 + g, url: `/g/${g}` }) })) });
      await producer.disconnect();
      const [recs] = await readAll(await open(config(secured, 't', [`fetcher.kafka.ssl={ ca = ${JSON.stringify(join(dir, 'cert.pem'))} }`])));
      assert.deepEqual(recs.map(gOf), range(0, 5));
      await assert.rejects(open(config(secured, 't', ['fetcher.kafka.ssl=true', 'fetcher.kafka.retries=0'])), (err: unknown) => {
        assert.ok(err instanceof SourceError);
        assert.match(err.message, /could not connect after 1 attempts: .*certificate/);
        return true;
      });
    } finally {
      await secured.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('unreachable brokers: retries with backoff, then an error naming the brokers', async () => {
    // A port that accepts connections and closes them at once: each attempt is counted.
    let connections = 0;
    const dead = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(dead.address() as { port: number }).port}`;
    try {
      const started = Date.now();
      await assert.rejects(
        open(config({ address }, 'access', ['fetcher.kafka.retries=2', 'fetcher.kafka.backoff_ms=100'])),
        (err: unknown) => {
          assert.ok(err instanceof SourceError, String(err));
          assert.match(err.message, new RegExp(`^Kafka brokers ${address} unreachable: could not connect after 3 attempts: `));
          return true;
        },
      );
      const took = Date.now() - started;
      assert.equal(connections, 3, 'one connection per attempt: the first and 2 retries');
      assert.ok(took >= 300 && took < 10_000, `backoff 100 + 200 ms, took ${took} ms`);
    } finally {
      await new Promise((r) => dead.close(r));
    }
  });

  test('brokers lost in the middle of a read: the source fails with a clear error', async () => {
    const flaky = await startKafkaBroker({ topics: { t: 1 } });
    try {
      await fill(flaky, 't', { total: 600 });
      const cfg = config(flaky, 't', ['fetcher.kafka.max_bytes_per_partition=1024', 'fetcher.kafka.retries=1', 'fetcher.kafka.backoff_ms=50']);
      const [source] = await open(cfg);
      const first = await source.records.next();
      assert.equal(first.done, false);
      await flaky.stop();
      const started = Date.now();
      await assert.rejects(
        (async () => {
          for await (const _ of source.records);
        })(),
        (err: unknown) => {
          assert.ok(err instanceof SourceError, String(err));
          assert.match(err.message, new RegExp(`Kafka read of topic "t" failed \\(brokers ${flaky.address}\\)`));
          return true;
        },
      );
      assert.ok(Date.now() - started < 30_000);
    } finally {
      await flaky.stop();
    }
  });
});

describe('havok local with a Kafka source', { timeout: 180_000 }, () => {
  let nats: NatsServerHandle;
  let broker: KafkaBrokerHandle;
  before(async () => {
    nats = await startNatsServer();
    broker = await startKafkaBroker({ topics: { access: 3 } });
    await fill(broker, 'access', { garbage: true });
  });
  after(async () => {
    await broker?.stop();
    await nats?.stop();
  });

  const kafkaJob = (target: string, jobToml: string, kafkaToml: string, brokers = [broker.address]): ReturnType<typeof writeJob> =>
    writeJob({
      job: 'kafka',
      log: 'unused.log', // writeJob always writes [fetcher.file]; type = "kafka" never reads it
      target,
      nats: nats.url,
      job_toml: jobToml,
      fetcher_toml: 'type = "kafka"',
      extra: `[fetcher.kafka]\nbrokers = ${JSON.stringify(brokers)}\ntopic = "access"\nformat = "jsonl"\n${kafkaToml}\n`,
    });

  test('exactly the records inside [begin, end) reach the target, in timestamp order', async () => {
    const target = await startTarget();
    try {
      const job = kafkaJob(target.url, `begin = ${T0 + 500}\nend = ${T0 + 2500}`, '');
      const res = await runHavok(['local', '--config', job.config]);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const order = target.requests.map((r) => Number(r.url.split('/')[2]));
      assert.deepEqual([...order].sort((a, b) => a - b), range(50, 250), 'every record of the window once, nothing else');
      // Due 10 ms apart (speed 1): allow neighbours within 100 ms to swap on a loaded machine.
      const worst = worstOvertake(order);
      assert.ok(worst <= 10, `a request arrived ${worst} places behind a later one`);
      const report = readReport(job.report);
      assert.equal(report.records.parse_errors, GARBAGE.length + 1);
      assert.equal(report.records.read, 200 + GARBAGE.length + 1 + (report.records.filtered ?? 0));
      assert.equal(report.accounting.records_close, true);
      assert.equal(broker.calls.OffsetCommit ?? 0, 0, 'no offset committed');
    } finally {
      await target.close();
    }
  });

  test('unreachable Kafka: a clear error, a non-zero exit after the retries, nothing read', async () => {
    const target = await startTarget();
    try {
      const job = kafkaJob(target.url, '', 'retries = 2\nbackoff_ms = 100', ['127.0.0.1:1']);
      const started = Date.now();
      const res = await runHavok(['local', '--config', job.config], { HAVOK_LOG_LEVEL: 'warn' });
      assert.notEqual(res.code, 0);
      assert.ok(Date.now() - started < 60_000);
      assert.match(res.stderr, /Kafka brokers 127\.0\.0\.1:1 unreachable: could not connect after 3 attempts/);
      assert.equal(target.count(), 0);
      // The fetcher fails before it publishes anything. (The reporter, stopped by `havok local`,
      // writes a report of what it knows only when a time-wheel status reached it in time.)
      if (existsSync(job.report)) {
        const report = readReport(job.report);
        assert.equal(report.records.read, 0, 'nothing half-reported');
        assert.equal(report.requests.sent, 0);
      }
    } finally {
      await target.close();
    }
  });
});
