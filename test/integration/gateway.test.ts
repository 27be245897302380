/**
 * The ingest gateway as a real process (`havok gateway`) on a real nats-server, over real HTTP:
 * what it stores and answers for good lines, a repo's pipeline, Idempotency-Key retries, bad
 * input (garbage, half-JSON, truncated gzip, a body over max_body_bytes declared or streamed
 * without being buffered, unknown repo, a 1 MB line), NATS down (503 + Retry-After, never 200),
 * a kill -9 mid-load (every 200'd line is in the stream), /metrics, and SIGTERM's clean exit.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { TRAFFIC_STREAM } from '../../shared/protocol.js';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import { batchLines, post, postUntilStored, startGateway, streamMessages } from '../support/gateway.js';
import { readStream, streamLines } from '../support/traffic.js';

const REPOS = `
max_body_bytes = 2097152
max_inflight_bytes = 8388608
retry_after_s = 1
store_timeout_ms = 2000
[gateway.repos.web]
[gateway.repos.secret]
token = "s3cret-token-for-tests"
[gateway.repos.edge]
constraint = { required = ["url"], matches = { url = "^/" } }
executers = [
  { type = "split", field = "request", separator = " " },
  { type = "names", field = "request", names = ["method", "url"] },
  { type = "rename", fields = { t = "time" } },
  { type = "timestamp", field = "time" },
  { type = "drop", fields = ["time", "secret"] },
  { type = "set", fields = { host = "edge-1" } },
]
`;

/**
 * Sends a POST over a raw socket: the head, then `chunk` up to `maxChunks` times (chunked when
 * `declared` is absent), stopping at the first answer; returns its status and the bytes sent by
 * then. A raw socket, because the gateway closes the connection on a refused body and an HTTP
 * client then reports the broken write rather than the answer that came before it.
 */
function sendUntilAnswered(url: string, path: string, chunk: Buffer, maxChunks: number, declared?: number): Promise<{ status: number; sent: number }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const sock = connect(Number(u.port), u.hostname);
    let sent = 0;
    let answer = '';
    const lengthHeader = declared === undefined ? 'transfer-encoding: chunked' : `content-length: ${declared}`;
    sock.on('data', (d) => {
      answer += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (m) {
        sock.destroy();
        resolve({ status: Number(m[1]), sent });
      }
    });
    sock.on('error', (err) => (/EPIPE|ECONNRESET/.test(String((err as NodeJS.ErrnoException).code)) ? undefined : reject(err)));
    sock.on('close', () => reject(new Error(`closed without an answer after ${sent} bytes`)));
    sock.write(`POST ${path} HTTP/1.1\r\nhost: ${u.host}\r\ncontent-type: application/x-ndjson\r\n${lengthHeader}\r\n\r\n`);
    const frame = declared === undefined ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk;
    const pump = (): void => {
      while (!sock.destroyed && sent < maxChunks * chunk.length) {
        sent += chunk.length;
        if (!sock.write(frame)) return void sock.once('drain', pump);
      }
    };
    pump();
  });
}

describe('gateway', () => {
  test('stores good lines with received_ms on havok.traffic.<repo>.<METHOD> and answers the counts after the acks', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, REPOS);
    const nc = await fx.connect();
    const before = Date.now();
    const body = '{"ts":1,"method":"post","url":"/a"}\n{"ts":2,"url":"/b"}\nnot json\n{"ts":3,"method":"GET","url":"/c"\n[1]\n\n';
    const r = await post(gw.url, 'web', body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { accepted: 2, dropped: 0, malformed: 3, sampled_out: 0 });
    // The answer came after the acks: the lines are in the stream already.
    assert.equal((await streamLines(nc)).lines, 2);
    const stored = await readStream(nc);
    assert.deepEqual(stored.map(({ received_ms: _, ...rest }) => rest), [{ ts: 1, method: 'post', url: '/a' }, { ts: 2, url: '/b' }]);
    for (const s of stored) assert.ok((s.received_ms as number) >= before && (s.received_ms as number) <= Date.now());
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
    const subjects = await jsm.streams.info(TRAFFIC_STREAM, { subjects_filter: '>' });
    assert.deepEqual(Object.keys(subjects.state.subjects ?? {}).sort(), ['havok.traffic.web.POST', 'havok.traffic.web._']);
  });

  test('a repo pipeline: split, names, rename, timestamp, drop, set, constraint; gzip bodies', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, REPOS);
    const nc = await fx.connect();
    const body = [
      JSON.stringify({ request: 'GET /x?y=1', t: '2024-01-01T00:00:00Z', secret: 's' }),
      JSON.stringify({ request: 'GET', t: '2024-01-01T00:00:00Z' }),
      JSON.stringify({ request: 'GET http://elsewhere/', t: '2024-01-01T00:00:00Z' }),
      JSON.stringify({ request: 'GET /z', t: 'not a time' }),
    ].join('\n');
    const r = await post(gw.url, 'edge', body, { gzip: true });
    assert.deepEqual([r.status, r.json], [200, { accepted: 1, dropped: 3, malformed: 0, sampled_out: 0 }]);
    const [stored] = await readStream(nc);
    const { received_ms: _, ...line } = stored;
    assert.deepEqual(line, { method: 'GET', url: '/x?y=1', ts: Date.UTC(2024, 0, 1), host: 'edge-1' });
  });

  test('Idempotency-Key: a retried POST stores nothing twice', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, REPOS);
    const nc = await fx.connect();
    const body = batchLines(0, 50);
    for (let i = 0; i < 3; i++) assert.deepEqual((await post(gw.url, 'web', body, { key: 'batch-0' })).json, { accepted: 50, dropped: 0, malformed: 0, sampled_out: 0 });
    await post(gw.url, 'web', body, { key: 'batch-1' });
    assert.equal((await streamLines(nc)).lines, 100);
    // A POST's lines of one subject are one message: two POSTs stored, two messages.
    assert.equal(await streamMessages(nc), 2);
  });

  test('GET /traffic and /traffic/{id}: recorded lines found by filter and by trace id (the gateway keeps the index); one NATS connection for all', async () => {
    await using fx = await havokFixture();
    // Info logs: each NATS connection the gateway opens says "connected to NATS".
    const gw = await startGateway(fx, REPOS, 'gateway', [], { HAVOK_LOG_LEVEL: 'info' });
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const body = [
      { ts: 1, method: 'GET', url: '/a', trace_id: trace },
      { ts: 2, method: 'POST', url: '/api/orders', status: 503 },
      { ts: 3, method: 'POST', url: '/api/orders/7', traceparent: `00-${trace}-00f067aa0ba902b7-01` },
      { ts: 4, method: 'GET', url: '/b' },
    ].map((l) => JSON.stringify(l)).join('\n');
    assert.equal((await post(gw.url, 'web', body)).status, 200);
    const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await fetch(`${gw.url}${path}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const urls = (b: Record<string, unknown>): string[] => (b.records as Array<{ url: string }>).map((x) => x.url).sort();
    const posts = await get('/traffic?repo=web&method=POST&order=oldest');
    assert.equal(posts.status, 200);
    assert.deepEqual(urls(posts.body), ['/api/orders', '/api/orders/7']);
    assert.deepEqual(urls((await get('/traffic?status=5xx')).body), ['/api/orders']);
    await check(async () => urls((await get(`/traffic?trace_id=${trace}`)).body).join() === '/a,/api/orders/7', 10_000, 'the trace id to find both lines');
    const seq = (posts.body.records as Array<{ seq: number }>)[0]!.seq;
    const one = await get(`/traffic/${seq}`);
    assert.equal(one.status, 200);
    assert.match(JSON.stringify(one.body), /\/api\/orders/);
    assert.equal((await get('/traffic?nope=1')).status, 400, 'an unknown filter key is a 400 naming it');
    assert.equal((await get('/traffic/999999')).status, 404);
    // The JetStream output, the traffic store and the trace indexer share the gateway's one connection.
    gw.proc.proc.kill('SIGTERM');
    const out = await gw.proc.done;
    assert.equal(out.code, 0);
    assert.equal(out.stderr.match(/"msg":"connected to NATS"/g)?.length, 1, 'one NATS connection');
  });

  test('a repo with a bearer token: 401 without it or with a wrong one, stored with it', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, REPOS);
    const nc = await fx.connect();
    const body = batchLines(0, 10);
    const none = await post(gw.url, 'secret', body);
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assert.equal((await post(gw.url, 'secret', body, { headers: { authorization: 'Bearer not-the-token-at-all' } })).status, 401);
    assert.equal((await streamLines(nc)).lines, 0, 'nothing stored without the token');
    assert.deepEqual((await post(gw.url, 'secret', body, { headers: { authorization: 'Bearer s3cret-token-for-tests' } })).json, { accepted: 10, dropped: 0, malformed: 0, sampled_out: 0 });
    assert.equal((await post(gw.url, 'web', body)).status, 200, 'a repo without a token takes any POST');
    assert.equal((await streamLines(nc)).lines, 20);
  });

  test('bad input: 404, 415, 400 for bad gzip or bad key, 413 declared or streamed (not buffered), a 1 MB line dropped; nothing stored', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, REPOS);
    const nc = await fx.connect();
    assert.equal((await post(gw.url, 'nope', '{}')).status, 404);
    assert.equal((await post(gw.url, 'web', '{}', { headers: { 'content-type': 'multipart/form-data' } })).status, 415);
    assert.equal((await post(gw.url, 'web', '{}', { headers: { 'content-encoding': 'br' } })).status, 415);
    const gz = gzipSync(Buffer.from(batchLines(0, 100)));
    const truncated = await post(gw.url, 'web', gz.subarray(0, gz.length - 20), { headers: { 'content-encoding': 'gzip' } });
    assert.equal(truncated.status, 400);
    assert.match(String(truncated.json.error), /gzip/);
    assert.equal((await post(gw.url, 'web', Buffer.from([0xff, 0xfe, 0x00, 0x81]))).status, 400);
    assert.equal((await post(gw.url, 'web', '{}', { key: 'a b' })).status, 400);
    // Garbage and half-JSON: counted as malformed, the sender told, nothing stored.
    const garbage = await post(gw.url, 'web', 'GET / HTTP/1.1\n\x01\x02\n{"url":"/half"\n{"url":');
    assert.deepEqual([garbage.status, garbage.json], [200, { accepted: 0, dropped: 0, malformed: 4, sampled_out: 0 }]);
    // 100 MB declared: refused from the header alone.
    const declared = await sendUntilAnswered(gw.url, '/log/repo/web', Buffer.from('{"url":"/x"}\n'), 1, 100 * 1024 * 1024);
    assert.equal(declared.status, 413);
    // 100 MB streamed without a length: answered 413 once past the limit, long before the end.
    const streamed = await sendUntilAnswered(gw.url, '/log/repo/web', Buffer.alloc(64 * 1024, 'x'), 1600);
    assert.equal(streamed.status, 413);
    assert.ok(streamed.sent < 50 * 1024 * 1024, `the gateway answered after ${streamed.sent} bytes of 100 MB`);
    // A gzip bomb: 50 MB of zeros in a small body.
    const bomb = await post(gw.url, 'web', gzipSync(Buffer.alloc(50 * 1024 * 1024, '\n')), { headers: { 'content-encoding': 'gzip' } });
    assert.equal(bomb.status, 413);
    // A 1 MB line: over NATS's 1 MB message limit once stored, so dropped (counted), its neighbour stored.
    const big = JSON.stringify({ url: '/big', body: 'x'.repeat(1024 * 1024) });
    const r = await post(gw.url, 'web', `${big}\n{"url":"/small"}\n`);
    assert.deepEqual([r.status, r.json], [200, { accepted: 1, dropped: 1, malformed: 0, sampled_out: 0 }]);
    assert.equal((await streamLines(nc)).lines, 1);
    // The gateway still serves after all that.
    assert.equal((await post(gw.url, 'web', '{"url":"/after"}')).status, 200);
  });

  test('NATS down: 503 with Retry-After, never 200; stored again once NATS is back', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, REPOS);
    await fx.nats.kill();
    const r = await post(gw.url, 'web', batchLines(0, 10), { key: 'k' });
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    await fx.nats.restart();
    const { result } = await postUntilStored(gw.url, 'web', batchLines(0, 10), 'k');
    assert.equal(result.json.accepted, 10);
    assert.equal((await streamLines(await fx.connect())).lines, 10);
  });

  test('kill -9 mid-load: every line answered 200 is in the stream', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, REPOS);
    const nc = await fx.connect();
    const ok: number[] = [];
    const senders = Array.from({ length: 4 }, async (_, s) => {
      for (let b = s; ; b += 4) {
        try {
          const r = await post(gw.url, 'web', batchLines(b, 200), { key: `b${b}` });
          if (r.status === 200) ok.push(b);
        } catch {
          return; // the gateway is gone
        }
      }
    });
    await check(() => ok.length >= 20, 30_000, '20 batches stored');
    gw.proc.proc.kill('SIGKILL');
    await Promise.all(senders);
    const stored = new Set((await readStream(nc)).map((m) => m.url));
    const missing = ok.flatMap((b) => Array.from({ length: 200 }, (_, i) => `/b${b}/${i}`)).filter((u) => !stored.has(u));
    assert.deepEqual(missing, [], `${missing.length} lines answered 200 are not in the stream`);
  });

  test('/metrics and SIGTERM: counters by repo and code, lines by outcome; a clean exit', async () => {
    await using fx = await havokFixture();
    const gw = await startGateway(fx, REPOS);
    await post(gw.url, 'web', '{"url":"/a"}\nx\n');
    await post(gw.url, 'nope', '{}');
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(text, /havok_gateway_requests_total\{repo="web",code="200"\} 1/);
    assert.match(text, /havok_gateway_requests_total\{repo="\(unknown\)",code="404"\} 1/);
    assert.match(text, /havok_gateway_lines_total\{repo="web",outcome="accepted"\} 1/);
    assert.match(text, /havok_gateway_lines_total\{repo="web",outcome="malformed"\} 1/);
    assert.match(text, /havok_gateway_store_seconds_count\{producer="default"\} 1/);
    assert.match(text, /havok_gateway_inflight_bytes 0/);
    gw.proc.proc.kill('SIGTERM');
    assert.equal((await gw.proc.done).code, 0);
  });

  test('a bad [gateway] exits 2 naming the key', async () => {
    await using fx = await havokFixture({ nats: false });
    const { writeFileSync } = await import('node:fs');
    const cfg = `${fx.dir}/bad.toml`;
    writeFileSync(cfg, '[gateway]\nlisten = "x"\n[gateway.repos.web]\noutput = "kafka1"\n');
    const r = await fx.run(['gateway', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /gateway\.listen/);
    writeFileSync(cfg, '[gateway.repos.web]\noutput = "kafka1"\n');
    const r2 = await fx.run(['gateway', '--config', cfg]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /gateway\.repos\.web\.output: no producer "kafka1"/);
  });
});
