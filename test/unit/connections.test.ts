import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { Pool } from 'undici';
import { TargetConnections } from '../../services/replayer/connections.js';
import { startSink, warmupRecords } from '../../services/replayer/warmup.js';

/** An HTTP server counting connections and requests, keeping its sockets for the test. */
async function server(): Promise<{ srv: Server; origin: URL; sockets: Socket[]; requests: () => number }> {
  // sockets: every connection the server accepted (closed ones too, with their byte counts).
  let requests = 0;
  const sockets: Socket[] = [];
  const srv = createServer((_req, res) => {
    requests++;
    res.end('ok');
  });
  srv.on('connection', (s: Socket) => sockets.push(s));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { srv, origin: new URL(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`), sockets, requests: () => requests };
}

const settle = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('TargetConnections: connections opened before the first request', () => {
  test('opens n connections and sends nothing; the Pool then uses them instead of connecting', async () => {
    const s = await server();
    const warm = new TargetConnections(s.origin);
    const opened = await warm.open(3);
    assert.deepEqual(opened, { idle: 3, errors: [] });
    await settle();
    assert.equal(s.sockets.length, 3, 'three connections reached the server');
    assert.equal(s.requests(), 0, 'no request before the first real one');
    const pool = new Pool(s.origin, { connections: 3, connect: warm.connect });
    const codes = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await pool.request({ method: 'GET', path: `/${i}` })).statusCode));
    assert.deepEqual(codes, [200, 200, 200, 200, 200]);
    assert.equal(s.sockets.length, 3, 'no connection opened beyond the three');
    assert.equal(warm.hits, 3);
    assert.equal(warm.misses, 0);
    await pool.close();
    warm.close();
    s.srv.close();
  });

  test('a connection the server closed while idle is forgotten, not handed to the Pool', async () => {
    const s = await server();
    const warm = new TargetConnections(s.origin);
    await warm.open(2);
    await settle();
    for (const sock of s.sockets) sock.destroy();
    await settle(50);
    assert.equal(warm.size, 0, 'both closed connections dropped');
    const pool = new Pool(s.origin, { connections: 1, connect: warm.connect });
    assert.equal((await pool.request({ method: 'GET', path: '/' })).statusCode, 200, 'the request gets a fresh connection');
    assert.equal(warm.misses, 1);
    await pool.close();
    warm.close();
    s.srv.close();
  });

  test('open() tops up to n and reports why connections failed', async () => {
    const s = await server();
    const warm = new TargetConnections(s.origin);
    await warm.open(2);
    assert.equal((await warm.open(3)).idle, 3, 'one more opened, the two kept');
    warm.close();
    assert.equal(warm.size, 0, 'close() closes the idle ones');
    s.srv.close();
    await once(s.srv, 'close').catch(() => undefined);
    const refused = await new TargetConnections(s.origin).open(2);
    assert.equal(refused.idle, 0);
    assert.deepEqual(refused.errors, ['ECONNREFUSED']);
  });

  test('bytes(): what the Pool\'s connections wrote and read, as the server counted it', async () => {
    const s = await server();
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
    await settle(50);
    assert.deepEqual(warm.bytes(), { sent: read(), received: written() }, 'after the connections closed');
    warm.close();
    s.srv.close();
  });
});

describe('warm-up records and sink', () => {
  test('GETs and every tenth a POST with a body, all due at once, numbered from `from`', () => {
    const recs = warmupRecords(10, 20, 123);
    assert.equal(recs.length, 20);
    assert.deepEqual(recs.map((r) => r.seq), Array.from({ length: 20 }, (_, i) => 10 + i));
    assert.ok(recs.every((r) => r.due === 123 && r.copy === 0));
    assert.deepEqual(recs.filter((r) => r.method === 'POST').map((r) => [r.seq, r.body]), [[10, '{}'], [20, '{}']]);
    assert.ok(recs.filter((r) => r.method === 'GET').every((r) => r.body === undefined));
  });

  test('a Pool redirected to the sink is answered there, and its bytes are not counted', async () => {
    const s = await server();
    const sink = await startSink();
    const conns = new TargetConnections(s.origin);
    conns.redirectTo(sink.address);
    const pool = new Pool(s.origin, { connections: 2, connect: conns.connect });
    const res = await pool.request({ method: 'GET', path: '/x' });
    assert.equal(await res.body.text(), 'ok', 'the sink answered');
    assert.equal(s.requests(), 0, 'nothing reached the target');
    assert.deepEqual(conns.bytes(), { sent: 0, received: 0 });
    conns.redirectTo(undefined);
    sink.close();
    await pool.close();
    conns.close();
    s.srv.close();
  });
});

describe('TargetConnections: top-ups and expiry', () => {
  test('two top-ups at once open n connections, not 2n', async () => {
    const s = await server();
    const conns = new TargetConnections(s.origin);
    const [a, b] = await Promise.all([conns.open(3), conns.open(3)]);
    await settle();
    assert.equal(s.sockets.length, 3, `server saw ${s.sockets.length} connections`);
    assert.deepEqual([a.idle, b.idle], [3, 3]);
    conns.close();
    s.srv.close();
  });

  test('an idle connection the Pool never takes is closed after maxIdleMs', async () => {
    const s = await server();
    const conns = new TargetConnections(s.origin, {}, 100);
    await conns.open(2);
    assert.equal(conns.size, 2);
    await settle(250);
    assert.equal(conns.size, 0, 'both expired');
    assert.ok(s.sockets.every((k) => k.destroyed || k.readableEnded), 'the target saw them close');
    conns.close();
    s.srv.close();
  });
});
