/**
 * The replayer's diff sender against three real HTTP servers, without NATS: each record goes to
 * all three, the record settles as the primary's answer, and bodies that are odd (huge,
 * compressed, not UTF-8, not what their content type says) or targets that fail are counted,
 * never thrown.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { errorKind, Exchange, type ExchangeOwner } from '../../services/replayer/exchange.js';
import { systemClock } from '../../services/replayer/scheduler.js';
import { DiffSender } from '../../services/diff/sender.js';
import { diffSchema } from '../../services/diff/settings.js';
import type { DueRecord } from '../../shared/protocol.js';
import { check } from '../support/check.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

async function serve(handler: Handler): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** Each path answers as the test needs; `who` is the target's name. */
function handler(who: string): Handler {
  return (req, res) => {
    const path = req.url ?? '/';
    if (path === '/huge') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${who}\n`.repeat(50_000));
    } else if (path === '/gzip') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify({ who: who === 'candidate' ? 'c' : 'p', n: 1 })));
    } else if (path === '/latin1') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    } else if (path === '/lying') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(who === 'candidate' ? '<html>error</html>' : '{"ok":true}');
    } else {
      res.writeHead(who === 'primary' ? 200 : 503);
      res.end();
    }
  };
}

function record(url: string, seq: number): DueRecord {
  return { ts: 0, method: 'GET', url, src: 0, seq, due: systemClock.now(), copy: 0 };
}

describe('DiffSender', { timeout: 30_000 }, () => {
  test('three targets per record, settles as the primary, odd bodies and failures counted', async () => {
    const [primary, candidate, secondary] = await Promise.all(['primary', 'candidate', 'secondary'].map((w) => serve(handler(w))));
    const settings = diffSchema.parse({ primary, candidate, secondary, max_body_bytes: 10_000 });
    const sender = new DiffSender(settings, { timeoutMs: 5000, connections: 4, clock: systemClock });
    const settled: Array<{ url: string; status: number; err?: string }> = [];
    let written = 0;
    const owner: ExchangeOwner = {
      written: () => void written++,
      settle: (ex, err) => void settled.push({ url: ex.rec.url, status: ex.status, err: err?.message }),
      warmupOver: () => false,
    };
    const urls = ['/huge', '/gzip', '/latin1', '/lying', '/status'];
    urls.forEach((url, i) => {
      const ex = new Exchange(owner);
      ex.rec = record(url, i);
      sender.dispatch({ method: 'GET', path: url, headers: {} }, ex);
    });
    await check(() => settled.length === urls.length, 10_000, 'every record settled');
    assert.equal(written, urls.length, "the primary's writes are the records'");
    assert.deepEqual(settled.map((s) => [s.url, s.status, s.err]).sort(), urls.map((u) => [u, 200, undefined]).sort());
    const snap = sender.snapshot();
    // Every target cut /huge at max_body_bytes; /latin1 is not UTF-8 anywhere; only the candidate lies.
    assert.deepEqual(snap.bodies, {
      primary: { truncated: 1, non_utf8: 1 },
      candidate: { truncated: 1, non_utf8: 1, not_json: 1 },
      secondary: { truncated: 1, non_utf8: 1 },
    });
    const e = snap.endpoints;
    assert.deepEqual(e['/gzip'].fields, { 'body.who': { primitive: { raw: 1, noise: 0 } } }, 'gzip bodies decoded and compared by field');
    assert.deepEqual(e['/lying'].fields, { body: { type: { raw: 1, noise: 0 } } }, 'JSON against text lines');
    assert.deepEqual(e['/status'].fields, { status: { primitive: { raw: 1, noise: 1 } } });
    // Cut at 10,000 bytes: 1,250 lines of "primary", 1,000 of "candidate" and of "secondary".
    assert.deepEqual(e['/huge'].fields, { body: { size: { raw: 1, noise: 1 } } }, 'the cut text bodies compared as lines');
    for (const t of ['primary', 'candidate', 'secondary']) assert.equal(snap.targets[t].sent, urls.length);
    assert.deepEqual(snap.targets.candidate.by_status, { '200': 4, '503': 1 });
    assert.ok(sender.bytes().received > 3 * 10_000, 'bytes of all three targets counted');
    await sender.close();
  });

  test('a target that is down: its error counted, the record skipped with the reason; the primary down fails the record', async () => {
    const up = await serve(handler('primary'));
    const down = 'http://127.0.0.1:1';
    for (const [p, c, want, reason] of [
      [up, down, undefined, 'candidate_error'],
      [down, up, 'connection_refused', 'primary_error'],
    ] as const) {
      const sender = new DiffSender(diffSchema.parse({ primary: p, candidate: c }), { timeoutMs: 2000, connections: 2, clock: systemClock });
      const settled: Array<Error | undefined> = [];
      const ex = new Exchange({ written: () => undefined, settle: (_ex, err) => void settled.push(err), warmupOver: () => false });
      ex.rec = record('/gzip', 0);
      sender.dispatch({ method: 'GET', path: '/gzip', headers: {} }, ex);
      await check(() => settled.length === 1, 5000, 'the record settled');
      assert.equal(settled[0] === undefined ? undefined : errorKind(settled[0]), want, 'the record fails only with its primary, as the primary failed');
      const snap = sender.snapshot();
      assert.deepEqual(snap.endpoints['/gzip'].skipped, { [reason]: 1 });
      await sender.close();
    }
  });
});
