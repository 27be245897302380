/**
 * Tests of the test helpers themselves (nats-server launcher, fixture, target, check) and of the
 * demo target over HTTP: every other integration test trusts them, so they are checked against
 * the real nats-server and real HTTP.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, jetstream } from '@nats-io/jetstream';
import { Agent, request } from 'undici';
import { check } from '../support/check.js';
import { havokFixture } from '../support/fixture.js';
import type { Running } from '../support/havok-cli.js';
import { startNatsServer } from '../support/nats-server.js';
import { startTarget } from '../support/target-server.js';
import { netnsUnavailable, oneWayCutsAvailable, testNet } from '../support/hosts.js';
import { DEMO_SLOW_MS, startDemoTarget } from '../../services/demo-target/server.js';

/** A fresh subject or stream name per test, so tests never see each other's messages. */
const unique = (prefix: string): string => `${prefix}_${randomUUID().replaceAll('-', '')}`;

describe('startNatsServer', () => {
  it('starts a JetStream server on a random port that a client can use', async () => {
    await using ns = await startNatsServer();
    assert.match(ns.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(ns.port > 0);
    const nc = await connect({ servers: ns.url });
    try {
      assert.equal(nc.info?.jetstream, true, 'server should advertise JetStream');
      const subject = unique('test');
      const sub = nc.subscribe(subject, { max: 1 });
      nc.publish(subject, 'hello');
      for await (const m of sub) assert.equal(m.string(), 'hello');
    } finally {
      await nc.close();
    }
  });

  it('restarts on the same port with the same store; clients reconnect and streams survive', async () => {
    await using ns = await startNatsServer();
    const portBefore = ns.port;
    const pidBefore = ns.pid;
    const nc = await connect({ servers: ns.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    try {
      let reconnects = 0;
      void (async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') reconnects++;
      })();

      const stream = unique('S');
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
      await jetstream(nc).publish(`${stream}.a`, 'kept');

      await ns.restart();
      assert.equal(ns.port, portBefore, 'port must not change on restart');
      assert.notEqual(ns.pid, pidBefore, 'restart must start a new process');
      await check(() => reconnects > 0, 10_000, 'client to reconnect after restart');

      // The subscription is replayed to the new server on reconnect.
      const subject = unique('after');
      const sub = nc.subscribe(subject, { max: 1 });
      await nc.flush();
      nc.publish(subject, 'again');
      for await (const m of sub) assert.equal(m.string(), 'again');

      // Same store dir: the stream and its message are still there.
      await check(
        async () => (await jsm.streams.info(stream)).state.messages === 1,
        10_000,
        `stream ${stream} to hold 1 message after restart`,
      );

      // A brand-new connection to the same URL works too.
      const nc2 = await connect({ servers: ns.url });
      await nc2.close();
    } finally {
      await nc.close();
    }
  });

  it('restarts after a crash (kill)', async () => {
    await using ns = await startNatsServer();
    ns.kill('SIGKILL');
    await ns.restart();
    const nc = await connect({ servers: ns.url });
    await nc.close();
  });
});

describe('startNatsServer failures and cleanup', () => {
  it('stop() removes the temp dirs and is idempotent; await using stops it too', async () => {
    const s = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: s.url });
    assert.notEqual(nc.info?.jetstream, true, 'jetstream:false should not enable JetStream');
    await nc.close();
    assert.ok(existsSync(s.storeDir));
    await Promise.all([s.stop(), s.stop()]);
    assert.equal(existsSync(s.storeDir), false);
    let pid = 0;
    let storeDir = '';
    {
      await using scoped = await startNatsServer();
      ({ pid, storeDir } = scoped);
    }
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the server left with its scope');
    assert.equal(existsSync(storeDir), false);
  });

  it('names the binary when it is missing', async () => {
    await assert.rejects(startNatsServer({ bin: '/nonexistent/nats-server' }), /cannot run \/nonexistent\/nats-server.*ENOENT/s);
  });

  it('shows the server stderr when it exits early', async () => {
    await assert.rejects(startNatsServer({ args: ['--no-such-flag'] }), /exited early[\s\S]*stderr[\s\S]*no-such-flag/);
  });
});

describe('check', () => {
  it('resolves once the condition holds', async () => {
    let n = 0;
    await check(() => ++n >= 3, 1_000, 'three polls');
    assert.ok(n >= 3);
  });

  it('says what it waited for when it times out', async () => {
    await assert.rejects(check(() => false, 50, 'godot'), { message: 'timed out after 50ms waiting for godot' });
  });
});

/** Whether a process with this pid still exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('havokFixture', () => {
  it('await using tears everything down when the test body throws', async () => {
    let seen: { natsPid: number; target: string; dir: string; router: Running } | undefined;
    await assert.rejects(async () => {
      await using fx = await havokFixture({ target: true });
      const nc = await fx.connect();
      assert.equal(nc.isClosed(), false);
      const router = fx.havok(['router', '--job', 'fixture', '--nats', fx.nats.url]);
      seen = { natsPid: fx.nats.pid, target: fx.target.url, dir: fx.dir, router };
      assert.ok(alive(fx.nats.pid) && existsSync(fx.dir));
      throw new Error('an assertion failed midway');
    }, /an assertion failed midway/);
    assert.ok(seen);
    assert.notEqual(seen.router.proc.exitCode ?? seen.router.proc.signalCode, null, 'the havok process was killed and reaped');
    assert.equal(alive(seen.natsPid), false, 'the nats-server was stopped');
    assert.equal(existsSync(seen.dir), false, 'the temp dir was removed');
    await assert.rejects(request(seen.target), /ECONNREFUSED/, 'the target was closed');
  });

  it('writes jobs with its target and server under its dir', async () => {
    await using fx = await havokFixture({ target: true });
    const job = fx.job({ job: 'fx', lines: ['{"ts":0,"method":"GET","url":"/"}'], format: 'jsonl' });
    assert.ok(job.dir.startsWith(fx.dir) && job.config.startsWith(job.dir));
    const toml = readFileSync(job.config, 'utf8');
    assert.match(toml, new RegExp(`target = "${fx.target.url}"`));
    assert.match(toml, new RegExp(`url = "${fx.nats.url}"`));
  });

  it('without a target or server, a job must name them', async () => {
    await using fx = await havokFixture({ nats: false });
    assert.equal(fx.nats, undefined);
    assert.equal(fx.target, undefined);
    assert.throws(() => fx.job({ job: 'fx' }), /no target or NATS url/);
    assert.ok(existsSync(fx.job({ job: 'fx', target: 'http://127.0.0.1:1', nats: 'nats://127.0.0.1:1' }).config));
  });

  it('runs every cleanup, last registered first, even when one fails', async () => {
    const order: string[] = [];
    const fx = await havokFixture({ nats: false });
    fx.defer(() => order.push('first'));
    fx.defer(() => {
      order.push('failing');
      throw new Error('cleanup failed');
    });
    fx.defer(() => order.push('last'));
    await assert.rejects(async () => fx[Symbol.asyncDispose](), /cleanup failed/);
    assert.deepEqual(order, ['last', 'failing', 'first']);
    assert.equal(existsSync(fx.dir), false, 'the dir, set up first, is removed last');
  });
});

describe('startTarget', () => {
  const agent = new Agent();
  after(async () => {
    await agent.close();
  });

  it('records requests in arrival order with method, url, headers, body and time', async () => {
    const t = await startTarget();
    try {
      const sent = [
        { method: 'GET' as const, path: '/a?x=1', body: undefined },
        { method: 'POST' as const, path: '/b', body: '{"n":2}' },
        { method: 'PUT' as const, path: '/c', body: 'three' },
      ];
      for (const s of sent) {
        const res = await request(`${t.url}${s.path}`, {
          method: s.method,
          body: s.body,
          headers: { 'x-seq': s.path },
          dispatcher: agent,
        });
        assert.equal(res.statusCode, 200);
        assert.equal(await res.body.text(), 'ok\n');
      }
      assert.equal(t.count(), 3);
      assert.deepEqual(
        t.requests.map((r) => [r.method, r.url, r.body, r.headers['x-seq']]),
        sent.map((s) => [s.method, s.path, s.body ?? '', s.path]),
      );
      const ats = t.requests.map((r) => r.at);
      assert.deepEqual([...ats].sort((a, b) => a - b), ats, 'arrival times must be non-decreasing');
      // `at` is epoch ms: within a minute of Date.now().
      assert.ok(Math.abs(ats[0]! - Date.now()) < 60_000);
    } finally {
      await t.close();
    }
  });

  it('replies with the given status after the given latency', async () => {
    let calls = 0;
    const t = await startTarget({ status: 503, latencyMs: () => (++calls, 30) });
    try {
      const start = performance.now();
      const res = await request(`${t.url}/x`, { dispatcher: agent });
      await res.body.text();
      assert.equal(res.statusCode, 503);
      // Generous bound (docs/architecture.md, Tests): only that the delay happened at all.
      assert.ok(performance.now() - start >= 25, 'latency should delay the reply');
      assert.equal(calls, 1);
    } finally {
      await t.close();
    }
  });

  it('close() returns promptly with an idle keep-alive connection open', async () => {
    const t = await startTarget();
    const res = await request(`${t.url}/`, { dispatcher: agent });
    await res.body.text();
    const start = performance.now();
    await t.close();
    assert.ok(performance.now() - start < 2_000, 'close() must not wait for the keep-alive timeout');
  });
});

describe('demo target', () => {
  it('answers 200 and 404 over HTTP and counts them', async () => {
    const agent = new Agent();
    const demo = await startDemoTarget({ port: 0 });
    try {
      assert.match(demo.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const get = async (path: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; body: unknown }> => {
        const res = await request(`${demo.url}${path}`, { method, body: method === 'POST' ? 'x=1' : undefined, dispatcher: agent });
        return { status: res.statusCode, body: await res.body.json() };
      };
      assert.deepEqual(await get('/'), { status: 200, body: { ok: true } });
      assert.deepEqual(await get('/index.php?a=1'), { status: 404, body: { ok: false, error: 'not found' } });
      assert.equal((await get('/x/404/y')).status, 404);
      assert.equal((await get('/form', 'POST')).status, 200);

      const start = performance.now();
      assert.equal((await get('/slow')).status, 200);
      assert.ok(performance.now() - start >= DEMO_SLOW_MS - 10, '/slow should take about DEMO_SLOW_MS');

      assert.deepEqual(demo.stats(), {
        requests: 5,
        byMethod: { GET: 4, POST: 1 },
        byStatus: { '200': 3, '404': 2 },
      });
    } finally {
      await demo.close();
      await agent.close();
    }
  });

  it('reports a port already in use clearly', async () => {
    const first = await startDemoTarget({ port: 0 });
    try {
      const port = Number(new URL(first.url).port);
      await assert.rejects(startDemoTarget({ port }), /demo-target cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});

describe('testNet (test hosts in network namespaces)', { skip: await netnsUnavailable() }, () => {
  /** Whether a TCP connection from the host's namespace to `ip:port` opens within 1 s. */
  const reaches = (ns: string, ip: string, port: number): Promise<boolean> =>
    new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', ns, 'timeout', '1', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`], (err) => resolve(!err));
    });

  it('a host reaches the hub; cut both ways it does not; healed it does again; dispose removes its namespace', async () => {
    let ns: string;
    {
      await using net = await testNet(['h1']);
      const h = net.host('h1');
      ns = h.ns;
      await using target = await startTarget({ host: net.hubIp });
      const port = Number(new URL(target.url).port);
      assert.equal(await reaches(h.ns, net.hubIp, port), true, 'before the cut');
      await h.cut();
      assert.equal(await reaches(h.ns, net.hubIp, port), false, 'cut');
      await h.heal();
      await check(() => reaches(h.ns, net.hubIp, port), 5_000, 'the link to work again after heal');
      if (await oneWayCutsAvailable()) {
        await h.cut('out');
        assert.equal(await reaches(h.ns, net.hubIp, port), false, 'cut one way (out): its SYN never leaves');
        await h.heal();
        assert.equal(await reaches(h.ns, net.hubIp, port), true, 'healed after a one-way cut');
      }
      assert.throws(() => net.host('nope'), /no host "nope"/);
    }
    const { stdout } = await promisify(execFile)('ip', ['netns', 'list']);
    assert.ok(!stdout.includes(ns), `namespace ${ns} removed on dispose`);
  });
});
