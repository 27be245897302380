/**
 * The ingest gateway in tests: `havok gateway` as a real process of a fixture (so a test can kill
 * it -9), on a free port, with a config of its own; a sender that POSTs JSON lines and retries
 * every 503 (and a refused connection) as a real edge node would; and a reader of the traffic
 * stream. Not a stable API: for this project's tests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TRAFFIC_STREAM } from '../../shared/protocol.js';
import { check } from './check.js';
import type { HavokFixture } from './fixture.js';
import type { Running } from './havok-cli.js';
import { freePort } from '../../shared/ports.js';

export interface GatewayHandle {
  url: string;
  config: string;
  proc: Running;
}

/** Writes `[nats]` and `[gateway]` (listen on a free port; `toml` adds keys and repos) and starts the gateway. */
/** `args`: more flags for `havok gateway` (e.g. `--set nats.user=…`); `env`: its environment (e.g. `HAVOK_LOG_LEVEL`). */
export async function startGateway(fx: HavokFixture, toml: string, name = 'gateway', args: string[] = [], env: Record<string, string> = {}): Promise<GatewayHandle> {
  const port = await freePort();
  const config = join(fx.dir, `${name}.toml`);
  writeFileSync(config, [`[nats]`, `url = "${fx.nats?.url}"`, `[gateway]`, `listen = "127.0.0.1:${port}"`, toml].join('\n'));
  const proc = fx.havok(['gateway', '--config', config, ...args], env);
  const url = `http://127.0.0.1:${port}`;
  // Generous: a node process starting beside another test file's load may take a while.
  await check(async () => (await fetch(`${url}/metrics`)).ok, 60_000, 'the gateway to listen');
  return { url, config, proc };
}

export interface PostOptions {
  key?: string;
  gzip?: boolean;
  headers?: Record<string, string>;
}

export interface PostResult {
  status: number;
  json: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

export async function post(url: string, repo: string, body: string | Buffer, opts: PostOptions = {}): Promise<PostResult> {
  const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', ...opts.headers };
  if (opts.key) headers['idempotency-key'] = opts.key;
  let data: Buffer = typeof body === 'string' ? Buffer.from(body) : body;
  if (opts.gzip) {
    data = gzipSync(data);
    headers['content-encoding'] = 'gzip';
  }
  const res = await request(`${url}/log/repo/${repo}`, { method: 'POST', headers, body: data });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}

/** POSTs until 200, retrying 503s and refused connections (never anything else); returns the 200 and the 503s seen. */
export async function postUntilStored(url: string, repo: string, body: string, key: string, deadlineMs = 60_000): Promise<{ result: PostResult; retries: number }> {
  const end = Date.now() + deadlineMs;
  for (let retries = 0; ; retries++) {
    let r: PostResult | undefined;
    try {
      r = await post(url, repo, body, { key });
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    if (r && r.status === 200) return { result: r, retries };
    if (r && r.status !== 503) throw new Error(`POST ${key}: ${r.status} ${JSON.stringify(r.json)}`);
    if (Date.now() > end) throw new Error(`POST ${key}: still 503 after ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How many messages the stream holds. */
export async function streamMessages(nc: NatsConnection, stream = TRAFFIC_STREAM): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream)).state.messages;
}

/** Every stored line of the stream, in stream order (a message holds one or more). */
/** `n` JSON request lines of batch `b`, each naming its batch and place. */
export function batchLines(b: number, n: number, t0 = Date.UTC(2024, 0, 1)): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ ts: t0 + b * n + i, method: 'GET', url: `/b${b}/${i}`, headers: { 'x-batch': String(b) } })).join('\n') + '\n';
}
