/**
 * Puts lines into a traffic stream exactly as the ingest gateway stores them (the shared
 * contract, docs/traffic.md): stream `HAVOK_TRAFFIC` on `havok.traffic.>`, messages on
 * `trafficSubject(repo, method)` holding lines = the line's JSON plus `received_ms`.
 * `publishTrafficFast` packs them as the gateway does (its pack.ts, per POST of `post` lines,
 * with the Havok-Lines and Havok-Traces headers),
 * `publishTrafficMessages` packs POSTs of varying sizes (single lines between larger bodies),
 * `publishTraffic` writes one line per message (as earlier builds did); `streamLines` counts a
 * stream in messages and lines. Lets the traffic store and its readers be tested without the
 * gateway.
 */
import { DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import { TRAFFIC_LINES_HEADER, TRAFFIC_MAX_LINES, TRAFFIC_STREAM, TRAFFIC_TRACES_HEADER, trafficLines, trafficMessage, trafficSubject } from '../../shared/protocol.js';
import { traceIdOf, traceKeyToken, type JsonObject } from '../../services/traffic/line.js';
import { packLines } from '../../services/gateway/outputs/pack.js';

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
    acks.forEach((a, i) => out.push({ seq: a.seq, index: 0, ...part[i]! }));
  }
  return out;
}

/**
 * Faster for large tests and the bench: the lines in POSTs of `post` lines, each POST packed per
 * subject as the gateway packs it, as plain publishes in order (no ack each), then a check that
 * the stream holds every message (a fresh stream numbers them first + i). Returns the stored
 * lines in stream order (sequence, then place in the message).
 */
export async function publishTrafficFast(nc: NatsConnection, h: TrafficStreamHandle, lines: readonly TrafficLine[], post = 1000): Promise<StoredTraffic[]> {
  const before = (await h.jsm.streams.info(h.stream)).state.last_seq;
  const enc = new TextEncoder();
  const out: StoredTraffic[] = [];
  let seq = before;
  for (let from = 0; from < lines.length; from += post) {
    const body = lines.slice(from, from + post).map(({ repo, line }) => ({ repo, line: { ...line, received_ms: line.received_ms ?? Date.now() } as JsonObject }));
    // A POST goes to one repo: pack each repo's lines of it as the gateway would.
    for (const repo of new Set(body.map((b) => b.repo))) {
      const mine = body.filter((b) => b.repo === repo);
      const stored = mine.map((b, index) => {
        const trace = traceIdOf(b.line);
        return { index, subject: trafficSubject(repo, typeof b.line.method === 'string' ? b.line.method : ''), payload: JSON.stringify(b.line), ...(trace === undefined ? {} : { trace: traceKeyToken(trace) }) };
      });
      for (const m of packLines(stored, 1024 * 1024 - 1024, TRAFFIC_MAX_LINES)) {
        const h = headers();
        h.set(TRAFFIC_LINES_HEADER, String(m.lines));
        if (m.traces) h.set(TRAFFIC_TRACES_HEADER, m.traces);
        nc.publish(m.subject, enc.encode(m.payload), { headers: h });
        seq++;
        const inMessage = stored.filter((l) => l.subject === m.subject && l.index >= m.first).slice(0, m.lines);
        inMessage.forEach((l, index) => out.push({ seq, index, repo, line: mine[l.index]!.line }));
      }
    }
    await nc.flush();
  }
  // The server may still be storing what was flushed: wait while it makes progress.
  const want = seq;
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
  /** Its message's sequence and its place in the message. */
  seq: number;
  index: number;
}

/** `SEQ:LINE` of a stored line. */
export const storedId = (s: Pick<StoredTraffic, 'seq' | 'index'>): string => `${s.seq}:${s.index}`;

/** Lines per "POST", in turn: single lines (one-line messages) between larger bodies. */
const POST_SIZES = [1, 40, 1, 1, 250, 7, 1, 90] as const;

/**
 * Publishes `lines` in POSTs of POST_SIZES lines, each POST's lines grouped into one message per
 * subject (in body order), each message acked. Each line is stamped with `received_ms` = now
 * unless it has one. Returns the stored lines in stream order (`seq` = their message's sequence)
 * and how many messages held them.
 */
export async function publishTrafficMessages(js: JetStreamClient, lines: readonly TrafficLine[]): Promise<{ stored: StoredTraffic[]; messages: number; multiLine: number }> {
  const stored: StoredTraffic[] = [];
  let messages = 0;
  let multiLine = 0;
  for (let from = 0, post = 0; from < lines.length; post++) {
    const body = lines.slice(from, from + POST_SIZES[post % POST_SIZES.length]!);
    from += body.length;
    const bySubject = new Map<string, Array<{ repo: string; line: JsonObject }>>();
    for (const { repo, line } of body) {
      const subject = trafficSubject(repo, typeof line.method === 'string' ? line.method : '');
      const group = bySubject.get(subject) ?? [];
      group.push({ repo, line: { ...line, received_ms: line.received_ms ?? Date.now() } as JsonObject });
      bySubject.set(subject, group);
    }
    const groups = [...bySubject.entries()];
    const acks = await Promise.all(groups.map(([subject, group]) => js.publish(subject, trafficMessage(group.map((g) => JSON.stringify(g.line))))));
    // Acked in publish order over one connection: sequences follow the groups.
    groups.forEach(([, group], i) => {
      group.forEach((g, index) => stored.push({ seq: acks[i]!.seq, index, ...g }));
      messages++;
      if (group.length > 1) multiLine++;
    });
  }
  stored.sort((a, b) => a.seq - b.seq || a.index - b.index);
  return { stored, messages, multiLine };
}

/** Visits every stored line of the stream in stream order; returns how many messages held them. */
async function eachStoredLine(nc: NatsConnection, stream: string, visit: (line: Uint8Array) => void): Promise<number> {
  const messages = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  if (messages === 0) return 0;
  const c = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const it = await c.consume({ max_messages: 500 });
  for await (const m of it) {
    for (const line of trafficLines(m.data)) visit(line);
    if (m.info.pending === 0) break;
  }
  await it.close();
  return messages;
}

/** Every stored line of the stream, parsed, in stream order (a message holds one or more). */
export async function readStream(nc: NatsConnection, stream = TRAFFIC_STREAM): Promise<Array<Record<string, unknown>>> {
  const dec = new TextDecoder();
  const out: Array<Record<string, unknown>> = [];
  await eachStoredLine(nc, stream, (line) => out.push(JSON.parse(dec.decode(line)) as Record<string, unknown>));
  return out;
}

/** What a traffic stream holds: messages and lines (the sum of every message's lines). */
export async function streamLines(nc: NatsConnection, stream = TRAFFIC_STREAM): Promise<{ messages: number; lines: number }> {
  let lines = 0;
  const messages = await eachStoredLine(nc, stream, () => void lines++);
  return { messages, lines };
}
