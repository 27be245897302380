/**
 * What the gateway keeps of a repo, as a real `havok gateway` process on a real nats-server:
 * sampling at ingest consistent per key (a sampled user keeps every line, an unsampled one none;
 * the sampled-out lines are counted in the answer and in /metrics), and per-repo retention by
 * bytes and by age (the oldest lines of that repo go, other repos keep theirs; purges counted
 * and logged).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TRAFFIC_STREAM, trafficSubjectParts } from '../../shared/protocol.js';
import { shouldSample } from '../../services/traffic/keep.js';
import { decodeLine } from '../../services/traffic/query.js';
import { eachLine, scanEach } from '../../services/traffic/scan.js';
import { check } from '../support/check.js';
import { createTrafficStream, publishTrafficFast } from '../support/traffic.js';
import { trafficLines } from '../support/traffic-lines.js';
import { havokFixture } from '../support/fixture.js';
import { post, startGateway } from '../support/gateway.js';

interface Stored {
  seq: number;
  repo: string;
  url: string;
  user?: string;
  /** Payload bytes, as the stream stores them. */
  bytes: number;
}

/** Every line of the traffic stream, in sequence order. */
async function storedLines(nc: NatsConnection): Promise<Stored[]> {
  const c = { js: jetstream(nc), jsm: await jetstreamManager(nc), stream: TRAFFIC_STREAM };
  const out: Stored[] = [];
  await scanEach(c, {}, Infinity, (m) =>
    eachLine(m, 0, (s) => {
      const line = decodeLine(s.data)!;
      const user = (line.headers as Record<string, string> | undefined)?.['x-user'];
      out.push({ seq: s.seq, repo: trafficSubjectParts(s.subject)!.repo, url: String(line.url), ...(user ? { user } : {}), bytes: s.data.length });
    }),
  );
  return out;
}

const jsonl = (lines: object[]): string => lines.map((l) => JSON.stringify(l)).join('\n') + '\n';

const metric = async (url: string, re: RegExp): Promise<number> => Number(re.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN);

describe('gateway: sampling and retention per repo', { timeout: 120_000 }, () => {
  test('sampling keeps every line of a sampled key and none of an unsampled one, and counts them', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, ['[gateway.repos.sampled]', 'sample = { rate = 0.3, key = "headers.x-user" }', '[gateway.repos.plain]'].join('\n'));
    const nc = await fx.connect();
    const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    // Four requests per user, interleaved across three POSTs (a user's lines come in several).
    const lines = [0, 1, 2, 3].flatMap((n) => users.map((u) => ({ ts: n, method: 'GET', url: `/items/${u}/${n}`, headers: { 'x-user': u } })));
    let sampledOut = 0;
    for (let from = 0; from < lines.length; from += 80) {
      const part = jsonl(lines.slice(from, from + 80));
      const r = await post(gw.url, 'sampled', part);
      assert.equal(r.status, 200);
      sampledOut += r.json.sampled_out as number;
      assert.equal((r.json.accepted as number) + (r.json.sampled_out as number), 80, JSON.stringify(r.json));
      assert.deepEqual((await post(gw.url, 'plain', part)).json, { accepted: 80, dropped: 0, malformed: 0, sampled_out: 0 });
    }
    const stored = await storedLines(nc);
    const perUser = (repo: string): Map<string, number> => {
      const m = new Map<string, number>();
      for (const s of stored) if (s.repo === repo) m.set(s.user!, (m.get(s.user!) ?? 0) + 1);
      return m;
    };
    const sampled = perUser('sampled');
    const kept = users.filter((u) => sampled.get(u) === 4);
    const none = users.filter((u) => !sampled.has(u));
    assert.equal(kept.length + none.length, users.length, `every user has all 4 lines or none: ${JSON.stringify([...sampled])}`);
    assert.ok(kept.length > 0 && none.length > 0, `${kept.length} users kept, ${none.length} left out`);
    // The same key gets the same answer in any process: the gateway agrees with this one.
    assert.deepEqual(kept, users.filter((u) => shouldSample({ headers: { 'x-user': u } }, { rate: 0.3, key: 'headers.x-user', missing: 'keep' })));
    assert.equal(sampledOut, none.length * 4);
    assert.equal(await metric(gw.url, /havok_gateway_lines_total\{repo="sampled",outcome="sampled_out"\} (\d+)/), none.length * 4);
    assert.equal(await metric(gw.url, /havok_gateway_lines_total\{repo="sampled",outcome="accepted"\} (\d+)/), kept.length * 4);
    // The repo without sampling keeps everything.
    assert.deepEqual([...perUser('plain').values()], users.map(() => 4));
  });

  test('retention by bytes removes the oldest lines of that repo only; by age, a repo\'s old lines', async () => {
    await using fx = await havokFixture();
    const MAX_BYTES = 150_000;
    const gw = await startGateway(
      fx,
      ['retention_interval_ms = 200', '[gateway.repos.big]', `max_bytes = ${MAX_BYTES}`, '[gateway.repos.small]', '[gateway.repos.brief]', 'max_age_ms = 1500'].join('\n'),
      'gateway',
      [],
      { HAVOK_LOG_LEVEL: 'info' },
    );
    const nc = await fx.connect();
    const pad = 'x'.repeat(40);
    // 5,000 lines of ~100 bytes to "big" (about 500 kB, five ledger chunks of 1,000 lines),
    // interleaved with "small" so that both repos' lines are spread over the same sequences.
    for (let b = 0; b < 10; b++) {
      const big = Array.from({ length: 500 }, (_, i) => ({ ts: b * 500 + i, method: 'POST', url: `/big/${String(b * 500 + i).padStart(5, '0')}`, pad }));
      assert.equal((await post(gw.url, 'big', jsonl(big))).json.accepted, 500);
      const small = Array.from({ length: 50 }, (_, i) => ({ ts: b * 50 + i, method: 'GET', url: `/small/${b * 50 + i}`, pad }));
      assert.equal((await post(gw.url, 'small', jsonl(small))).json.accepted, 50);
    }
    assert.equal((await post(gw.url, 'brief', jsonl(Array.from({ length: 10 }, (_, i) => ({ method: 'GET', url: `/old/${i}` }))))).json.accepted, 10);
    const purged = (repo: string, reason: string): Promise<number> => metric(gw.url, new RegExp(`havok_gateway_retention_purged_total\\{repo="${repo}",reason="${reason}"\\} (\\d+)`));
    await check(async () => (await purged('big', 'bytes')) === 4000, 60_000, 'retention to purge 4,000 lines of "big"');
    await check(async () => (await purged('brief', 'age')) === 10, 30_000, 'retention to purge the 10 old lines of "brief"');
    const stored = await storedLines(nc);
    const big = stored.filter((s) => s.repo === 'big');
    // The newest chunk of 1,000 lines fits the cap; two would not: exactly the newest 1,000 stay.
    assert.deepEqual(big.map((s) => s.url), Array.from({ length: 1000 }, (_, i) => `/big/${String(4000 + i).padStart(5, '0')}`));
    const bytes = big.reduce((a, s) => a + s.bytes, 0);
    assert.ok(bytes <= MAX_BYTES && bytes * 2 > MAX_BYTES, `big keeps ${bytes} bytes`);
    // Other repos keep every line, including those older than big's cut.
    assert.deepEqual(stored.filter((s) => s.repo === 'small').map((s) => s.url), Array.from({ length: 500 }, (_, i) => `/small/${i}`));
    assert.ok(stored.find((s) => s.repo === 'small')!.seq < big[0]!.seq);
    assert.equal(stored.filter((s) => s.repo === 'brief').length, 0);
    // A line stored now is younger than max_age: it stays through the next sweeps.
    await post(gw.url, 'brief', jsonl([{ method: 'GET', url: '/new' }]));
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual((await storedLines(nc)).filter((s) => s.repo === 'brief').map((s) => s.url), ['/new']);
    const purges = gw.proc.stderr().split('\n').filter((l) => l.includes('retention purged lines')).map((l) => JSON.parse(l) as { repo: string; reason: string; purged: number });
    assert.equal(purges.filter((p) => p.repo === 'big' && p.reason === 'bytes').reduce((a, p) => a + p.purged, 0), 4000, 'each purge is logged with its count');
  });

  test('a bad sampling or retention value exits 2 naming the key', async () => {
    await using fx = await havokFixture({ nats: false });
    const { writeFileSync } = await import('node:fs');
    const cfg = `${fx.dir}/bad.toml`;
    const rows: Array<[string, RegExp]> = [
      ['[gateway.repos.web]\nsample = { rate = 0, key = "user" }\n', /gateway\.repos\.web\.sample\.rate/],
      ['[gateway.repos.web]\nmax_bytes = -5\n', /gateway\.repos\.web\.max_bytes/],
      ['[gateway]\nretention_interval_ms = 5\n[gateway.repos.web]\n', /gateway\.retention_interval_ms/],
      ['[gateway.producers.k]\ntype = "kafka"\nbrokers = "127.0.0.1:1"\n[gateway.repos.web]\noutput = "k"\nmax_age_ms = 1000\n', /gateway\.repos\.web\.max_age_ms: per-repo retention applies to the JetStream traffic stream/],
    ];
    for (const [toml, key] of rows) {
      writeFileSync(cfg, toml);
      const r = await fx.run(['gateway', '--config', cfg]);
      assert.equal(r.code, 2, `${toml}: ${r.stderr}`);
      assert.match(r.stderr, key);
    }
  });

  test('a scan whose remaining lines are purged while it reads ends instead of waiting for them', async () => {
    await using fx = await havokFixture();
    const nc = await fx.connect();
    const h = await createTrafficStream(nc, { stream: 'TRAFFIC_PURGED' });
    // One line per message (POSTs of one line): 60,000 messages, many pulls' worth.
    await publishTrafficFast(nc, h, trafficLines(60_000, { seed: 3 }), 1);
    let seen = 0;
    let purge: Promise<unknown> | undefined;
    const t0 = Date.now();
    await scanEach(h, {}, Infinity, () => {
      // Retention purges the whole stream while the first pull is being delivered.
      purge ??= h.jsm.streams.purge(h.stream);
      seen++;
    });
    await purge;
    assert.ok(seen < 60_000, `read ${seen} messages of 60,000 before the purge took them`);
    assert.ok(Date.now() - t0 < 60_000);
  });
});
