/**
 * Puts lines into a traffic stream exactly as the ingest gateway stores them (the shared
 * contract, docs/traffic.md): stream `HAVOK_TRAFFIC` on `havok.traffic.>`, one message per line
 * on `trafficSubject(repo, method)`, payload = the line's JSON plus `received_ms`. Lets the
 * traffic store be tested without the gateway.
 */
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TRAFFIC_STREAM, trafficSubject } from '../../shared/protocol.js';
import type { JsonObject } from '../../services/traffic/line.js';

export interface TrafficStreamHandle {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
}

/** Creates the traffic stream (limits: none unless given). */
export async function createTrafficStream(nc: NatsConnection, opts: { stream?: string; maxAgeMs?: number } = {}): Promise<TrafficStreamHandle> {
  const stream = opts.stream ?? TRAFFIC_STREAM;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: stream,
    subjects: ['havok.traffic.>'],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    ...(opts.maxAgeMs ? { max_age: opts.maxAgeMs * 1e6 } : {}),
  });
  return { js: jetstream(nc), jsm, stream };
}

export interface TrafficLine {
  repo: string;
  line: JsonObject;
}

/**
 * Publishes lines in order (each acked by the stream), `window` in flight at a time. Each is
 * stamped with `received_ms` = now (as the gateway does) unless it has one. Returns what was
 * stored: sequence, repo and the stored object, in input order.
 */
export async function publishTraffic(js: JetStreamClient, lines: readonly TrafficLine[], window = 2000): Promise<StoredTraffic[]> {
  const out: StoredTraffic[] = [];
  const enc = new TextEncoder();
  for (let from = 0; from < lines.length; from += window) {
    const part = lines.slice(from, from + window).map(({ repo, line }) => ({ repo, line: { ...line, received_ms: line.received_ms ?? Date.now() } as JsonObject }));
    const acks = await Promise.all(part.map(({ repo, line }) => js.publish(trafficSubject(repo, typeof line.method === 'string' ? line.method : ''), enc.encode(JSON.stringify(line)))));
    acks.forEach((a, i) => out.push({ seq: a.seq, ...part[i]! }));
  }
  return out;
}

/**
 * Faster for large tests and the bench: plain publishes in order (no ack each), then a check
 * that the stream holds every one (a fresh stream numbers them first + i). Same stored format.
 */
export async function publishTrafficFast(nc: NatsConnection, h: TrafficStreamHandle, lines: readonly TrafficLine[], chunk = 5000): Promise<StoredTraffic[]> {
  const before = (await h.jsm.streams.info(h.stream)).state.last_seq;
  const enc = new TextEncoder();
  const out: StoredTraffic[] = [];
  for (let from = 0; from < lines.length; from += chunk) {
    for (const { repo, line } of lines.slice(from, from + chunk)) {
      const stored = { ...line, received_ms: line.received_ms ?? Date.now() } as JsonObject;
      nc.publish(trafficSubject(repo, typeof line.method === 'string' ? line.method : ''), enc.encode(JSON.stringify(stored)));
      out.push({ seq: before + out.length + 1, repo, line: stored });
    }
    await nc.flush();
  }
  // The server may still be storing what was flushed: wait while it makes progress.
  const want = before + lines.length;
  let seen = -1;
  let progressAt = Date.now();
  for (;;) {
    const last = (await h.jsm.streams.info(h.stream)).state.last_seq;
    if (last === want) return out;
    if (last > want) break;
    if (last !== seen) [seen, progressAt] = [last, Date.now()];
    else if (Date.now() - progressAt > 10_000) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`traffic stream ${h.stream} did not store all ${lines.length} lines in order`);
}

export interface StoredTraffic extends TrafficLine {
  seq: number;
}
