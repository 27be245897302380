/**
 * Response comparison end to end: `havok local` with `[diff]` against three real HTTP servers.
 * The secondary differs from the primary in `ts` on every response (noise); the candidate also
 * returns another `price` on a known share of `/items/:id` and drops a header on `/users/:id`.
 * The report must name exactly those two fields, with their counts and example values, never
 * the noise, and the exit code must gate on them.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { havokFixture, type HavokFixture } from '../support/fixture.js';
import { readReport } from '../support/havok-cli.js';
import { freePort } from '../../shared/ports.js';

const ITEMS = 80;
const USERS = 60;
const POSTS = 7;
/** Items whose id is a multiple of this get another price from the candidate: 20 of 80. */
const PRICE_EVERY = 4;

interface Behaviour {
  /** Candidate changes: another price on every PRICE_EVERY-th item, no x-api-version on users. */
  candidate: boolean;
}

/** A JSON API server; its `ts` field is its own (a per-server counter), as a real clock would be. */
async function apiServer(name: string, b: Behaviour): Promise<{ url: string; server: Server; hits: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    const [, kind, idText] = (req.url ?? '/').split('/');
    const id = Number(idText);
    const ts = `${name}-${n}`;
    if (kind === 'items') {
      const price = b.candidate && id % PRICE_EVERY === 0 ? id + 0.99 : id + 0.5;
      res.writeHead(200, { 'content-type': 'application/json', 'x-api-version': '3' });
      res.end(JSON.stringify({ id, name: `item ${id}`, price, ts, tags: ['a', 'b'] }));
    } else {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (!b.candidate) headers['x-api-version'] = '3';
      res.writeHead(200, headers);
      res.end(JSON.stringify({ id, user: `u${id}`, ts }));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: () => n };
}

function logLines(): string[] {
  const t0 = Date.UTC(2024, 0, 1);
  const lines: string[] = [];
  for (let i = 0; i < ITEMS + USERS + POSTS; i++) {
    const url = i < ITEMS ? `/items/${i}` : i < ITEMS + USERS ? `/users/${i}` : `/items/${i}`;
    lines.push(JSON.stringify({ ts: t0 + i * 5, method: i < ITEMS + USERS ? 'GET' : 'POST', url, headers: { traceparent: `00-${i.toString(16).padStart(32, '0')}-00f067aa0ba902b7-01` } }));
  }
  return lines;
}

/** Primary, secondary (the same build) and a candidate with the two changes; closed with the fixture. */
async function threeServers(fx: HavokFixture): Promise<Record<'primary' | 'secondary' | 'candidate', Awaited<ReturnType<typeof apiServer>>>> {
  const [primary, secondary, candidate] = await Promise.all([apiServer('p', { candidate: false }), apiServer('s', { candidate: false }), apiServer('c', { candidate: true })]);
  for (const s of [primary, secondary, candidate]) fx.defer(() => s.server.close());
  return { primary, secondary, candidate };
}

/** A job with [diff] and no [replayer] target. */
function diffJob(fx: HavokFixture, job: string, targets: { primary: string; candidate: string; secondary: string }): { config: string; report: string } {
  const log = join(fx.dir, `${job}.jsonl`);
  writeFileSync(log, logLines().join('\n') + '\n');
  const report = join(fx.dir, `${job}-report.json`);
  const config = join(fx.dir, `${job}.toml`);
  writeFileSync(
    config,
    [
      '[job]',
      `id = "${job}"`,
      'speed = 20',
      '[fetcher.file]',
      `path = ${JSON.stringify(log)}`,
      'format = "jsonl"',
      '[nats]',
      `url = "${fx.nats.url}"`,
      '[reporter]',
      `json = ${JSON.stringify(report)}`,
      'settle_ms = 10000',
      '[diff]',
      `primary = "${targets.primary}"`,
      `candidate = "${targets.candidate}"`,
      `secondary = "${targets.secondary}"`,
      'fail_on_difference = true',
      'examples = 3',
    ].join('\n'),
  );
  return { config, report };
}

describe('havok local with [diff]', { timeout: 120_000 }, () => {
  test('reports exactly the candidate\'s two differences, never the noise, and exits 3', async () => {
    await using fx = await havokFixture();
    const { primary, secondary, candidate } = await threeServers(fx);
    const job = diffJob(fx, 'diff-accept', { primary: primary.url, candidate: candidate.url, secondary: secondary.url });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 3, `exit code (stderr: ${res.stderr.slice(-2000)})`);
    const r = readReport(job.report);
    assert.ok(r.accounting.records_close && r.accounting.requests_close, 'accounting closes');
    assert.equal(r.records.filtered_by_reason?.unsafe_method, POSTS, 'POSTs filtered, not sent');
    assert.deepEqual([primary.hits(), candidate.hits(), secondary.hits()], [ITEMS + USERS, ITEMS + USERS, ITEMS + USERS], 'each record went to all three targets');
    const d = r.diff!;
    assert.equal(d.critical, 2);
    assert.equal(d.compared, ITEMS + USERS);
    const fields = d.endpoints.flatMap((e) => e.fields.map((f) => [e.endpoint, e.total, f.path, f.kind, f.raw, f.noise]));
    assert.deepEqual(fields.sort(), [
      ['/items/:id', ITEMS, 'body.price', 'primitive', ITEMS / PRICE_EVERY, 0],
      ['/users/:id', USERS, 'headers.x-api-version', 'missing', USERS, 0],
    ]);
    // The noise field is counted as noise on both endpoints and never reported as different.
    const items = d.endpoints.find((e) => e.endpoint === '/items/:id')!;
    assert.deepEqual(items.noise_fields.map((f) => [f.path, f.raw, f.noise]), [['body.ts', ITEMS, ITEMS]]);
    const price = items.fields[0];
    assert.equal(price.examples.length, 3);
    for (const ex of price.examples) {
      const id = Number(ex.request.url.split('/')[2]);
      assert.equal(id % PRICE_EVERY, 0);
      assert.deepEqual(ex.values, { primary: String(id + 0.5), candidate: String(id + 0.99), secondary: String(id + 0.5) });
      assert.equal(ex.trace_id, id.toString(16).padStart(32, '0'));
      assert.equal(ex.responses.candidate.status, 200);
    }
    for (const t of ['primary', 'candidate', 'secondary']) assert.equal(d.targets[t].ok, ITEMS + USERS, `${t} answered every record`);
    assert.ok(r.bytes_sent > 0 && r.bytes_received > 0, 'the three targets\' connections are counted');
    assert.match(res.stdout, /DIFFERENT \/items\/:id body\.price primitive: 20\/80 records/);
    assert.match(res.stdout, /DIFFERENT \/users\/:id headers\.x-api-version missing: 60\/60 records/);
  });

  test('a candidate equal to the primary: nothing different, exit 0 with fail_on_difference', async () => {
    await using fx = await havokFixture();
    const primary = await apiServer('p', { candidate: false });
    const secondary = await apiServer('s', { candidate: false });
    for (const s of [primary, secondary]) fx.defer(() => s.server.close());
    // The same server as candidate: its `ts` still differs per answer, as noise does.
    const job = diffJob(fx, 'diff-same', { primary: primary.url, candidate: primary.url, secondary: secondary.url });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, `exit code (stderr: ${res.stderr.slice(-2000)})`);
    const d = readReport(job.report).diff!;
    assert.equal(d.critical, 0);
    assert.equal(d.compared, ITEMS + USERS);
    assert.ok(d.endpoints.every((e) => e.fields.length === 0));
  });

  test('a replayer started without a config joins with the job\'s [diff] from the time wheel', async () => {
    await using fx = await havokFixture();
    const { primary, secondary, candidate } = await threeServers(fx);
    const job = diffJob(fx, 'diff-alone', { primary: primary.url, candidate: candidate.url, secondary: secondary.url });
    const args = ['--config', job.config];
    const reporter = fx.havok(['reporter', ...args]);
    const others = [fx.havok(['router', ...args]), fx.havok(['replayer', '--id', 'bare', '--job', 'diff-alone', '--nats', fx.nats.url]), fx.havok(['timewheel', ...args]), fx.havok(['fetcher', ...args])];
    const done = await reporter.done;
    assert.equal(done.code, 3, `reporter exit code (stderr: ${done.stderr.slice(-2000)})`);
    for (const o of await Promise.all(others.map((o) => o.done))) assert.equal(o.code, 0, o.stderr.slice(-2000));
    const d = readReport(job.report).diff!;
    assert.deepEqual([d.compared, d.critical], [ITEMS + USERS, 2]);
    assert.deepEqual([primary.hits(), candidate.hits(), secondary.hits()], [ITEMS + USERS, ITEMS + USERS, ITEMS + USERS]);
  });

  test('a candidate that is down: its errors counted, every record skipped with the reason, no crash', async () => {
    await using fx = await havokFixture();
    const primary = await apiServer('p', { candidate: false });
    const secondary = await apiServer('s', { candidate: false });
    for (const s of [primary, secondary]) fx.defer(() => s.server.close());
    const down = `http://127.0.0.1:${await freePort()}`;
    const job = diffJob(fx, 'diff-down', { primary: primary.url, candidate: down, secondary: secondary.url });
    const res = await fx.run(['local', '--config', job.config]);
    assert.equal(res.code, 0, `exit code (stderr: ${res.stderr.slice(-2000)})`);
    const r = readReport(job.report);
    assert.ok(r.accounting.records_close && r.accounting.requests_close, 'accounting closes');
    const d = r.diff!;
    assert.deepEqual([d.compared, d.skipped, d.critical], [0, { candidate_error: ITEMS + USERS }, 0]);
    assert.equal(d.targets.candidate.by_error.connection_refused, ITEMS + USERS);
    assert.equal(r.requests.ok, ITEMS + USERS, 'the records count as the primary answered them');
  });
});
