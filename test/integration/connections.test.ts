/**
 * The replayer's target connections (services/replayer/connections.ts) and its warm-up sink
 * against real sockets on loopback: what is opened ahead, handed to the undici Pool, forgotten
 * when closed, expired, and counted in bytes, as the server saw it. Waits are polls on what the
 * server or the connections report, never a fixed settle time.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { Pool } from 'undici';
import { TargetConnections } from '../../services/replayer/connections.js';
import { startSink } from '../../services/replayer/warmup.js';
import { check } from '../support/check.js';

interface CountingServer extends AsyncDisposable {
  srv: Server;
  origin: URL;
  /** Every connection the server accepted (closed ones too, with their byte counts). */
  sockets: Socket[];
  requests: () => number;
}

/** An HTTP server counting connections and requests; `await using` closes it and its sockets. */
async function server(): Promise<CountingServer> {
  let requests = 0;
  const sockets: Socket[] = [];
  const srv = createServer((_req, res) => {
    requests++;
    res.end('ok');
  });
  srv.on('connection', (s: Socket) => sockets.push(s));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    srv,
    origin: new URL(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`),
    sockets,
    requests: () => requests,
    async [Symbol.asyncDispose]() {
      if (!srv.listening) return;
      const closed = once(srv, 'close');
      srv.close();
      srv.closeAllConnections();
      await closed;
    },
  };
}

const serverSaw = (s: CountingServer, n: number): Promise<void> => check(() => s.sockets.length >= n, 5_000, `the server to accept ${n} connections`);

describe('TargetConnections: connections opened before the first request', () => {
  test('opens n connections and sends nothing; the Pool then uses them instead of connecting', async () => {
    await using s = await server();
    const warm = new TargetConnections(s.origin);
    const opened = await warm.open(3);
    assert.deepEqual(opened, { idle: 3, errors: [] });
    await serverSaw(s, 3);
    assert.equal(s.sockets.length, 3, 'three connections reached the server');
    assert.equal(s.requests(), 0, 'no request before the first real one');
    const pool = new Pool(s.origin, { connections: 3, connect: warm.connect });
    const codes = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await pool.request({ method: 'GET', path: `/${i}` })).statusCode));
    assert.deepEqual(codes, [200, 200, 200, 200, 200]);
    // Every request was answered, so a connection the Pool opened itself would have been accepted.
    assert.equal(s.sockets.length, 3, 'no connection opened beyond the three');
    assert.equal(warm.hits, 3);
    assert.equal(warm.misses, 0);
    await pool.close();
    warm.close();
  });

  test('a connection the server closed while idle is forgotten, not handed to the Pool', async () => {
    await using s = await server();
    const warm = new TargetConnections(s.origin);
    await warm.open(2);
    await serverSaw(s, 2);
    for (const sock of s.sockets) sock.destroy();
    await check(() => warm.size === 0, 5_000, 'both closed connections to be dropped');
    const pool = new Pool(s.origin, { connections: 1, connect: warm.connect });
    assert.equal((await pool.request({ method: 'GET', path: '/' })).statusCode, 200, 'the request gets a fresh connection');
    assert.equal(warm.misses, 1);
    await pool.close();
    warm.close();
  });

  test('open() tops up to n and reports why connections failed', async () => {
    const s = await server();
    const warm = new TargetConnections(s.origin);
    await warm.open(2);
    assert.equal((await warm.open(3)).idle, 3, 'one more opened, the two kept');
    warm.close();
    assert.equal(warm.size, 0, 'close() closes the idle ones');
    await s[Symbol.asyncDispose]();
    const refused = await new TargetConnections(s.origin).open(2);
    assert.equal(refused.idle, 0);
    assert.deepEqual(refused.errors, ['ECONNREFUSED']);
  });

  test('bytes(): what the Pool\'s connections wrote and read, as the server counted it', async () => {
    await using s = await server();
    const warm = new TargetConnections(s.origin);
    await warm.open(2);
    const pool = new Pool(s.origin, { connections: 4, connect: warm.connect });
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await pool.request({ method: i % 2 ? 'POST' : 'GET', path: `/item/${i}`, headers: { 'x-n': String(i) }, ...(i % 2 ? { body: 'x'.repeat(i * 10) } : {}) });
        await res.body.text();
      }),
    );
    const read = (): number => s.sockets.reduce((n, k) => n + k.bytesRead, 0);
    const written = (): number => s.sockets.reduce((n, k) => n + k.bytesWritten, 0);
    assert.ok(read() > 20 * 30, `server read ${read()} bytes`);
    assert.deepEqual(warm.bytes(), { sent: read(), received: written() }, 'open connections');
    await pool.close();
    await check(() => s.sockets.every((k) => k.destroyed), 5_000, 'the server to see every connection close');
    // The client's close events may trail the server's; the counts must come out the same.
    await check(() => isDeepStrictEqual(warm.bytes(), { sent: read(), received: written() }), 5_000, 'bytes of the closed connections to match the server\'s');
    warm.close();
  });

  test('two top-ups at once open n connections, not 2n', async () => {
    await using s = await server();
    const conns = new TargetConnections(s.origin);
    const [a, b] = await Promise.all([conns.open(3), conns.open(3)]);
    assert.deepEqual([a.idle, b.idle], [3, 3]);
    assert.equal(conns.size, 3, 'three idle connections, not six');
    await serverSaw(s, 3);
    assert.equal(s.sockets.length, 3, `server saw ${s.sockets.length} connections`);
    conns.close();
  });

  test('an idle connection the Pool never takes is closed after maxIdleMs', async () => {
    await using s = await server();
    const maxIdleMs = 100;
    const conns = new TargetConnections(s.origin, {}, maxIdleMs);
    const openedAt = Date.now();
    await conns.open(2);
    assert.equal(conns.size, 2);
    await check(() => conns.size === 0, 5_000, 'both idle connections to expire');
    assert.ok(Date.now() - openedAt >= maxIdleMs, `expired ${Date.now() - openedAt} ms after opening, before maxIdleMs`);
    await check(() => s.sockets.length === 2 && s.sockets.every((k) => k.destroyed || k.readableEnded), 5_000, 'the target to see them close');
    conns.close();
  });
});

describe('warm-up sink', () => {
  test('a Pool redirected to the sink is answered there, and its bytes are not counted', async () => {
    await using s = await server();
    const sink = await startSink();
    const conns = new TargetConnections(s.origin);
    conns.redirectTo(sink.address);
    const pool = new Pool(s.origin, { connections: 2, connect: conns.connect });
    try {
      const res = await pool.request({ method: 'GET', path: '/x' });
      assert.equal(await res.body.text(), 'ok', 'the sink answered');
      assert.equal(s.requests(), 0, 'nothing reached the target');
      assert.deepEqual(conns.bytes(), { sent: 0, received: 0 });
      conns.redirectTo(undefined);
    } finally {
      sink.close();
      await pool.close();
      conns.close();
    }
  });
});
