/**
 * The traffic stream as it is now: a message holds one or more lines of one subject (the
 * contract in shared/protocol.ts). Publishes lines packed the way the gateway packs a POST (its
 * lines grouped by subject, in body order), with "POSTs" of varying size so a test gets both
 * multi-line messages and single-line ones (the old format, still valid); and counts what a
 * stream holds in lines, not messages.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TRAFFIC_STREAM, trafficLines, trafficMessage, trafficSubject } from '../../shared/protocol.js';
import type { JsonObject } from '../../services/traffic/line.js';
import type { StoredTraffic, TrafficLine } from './traffic.js';

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
      for (const g of group) stored.push({ seq: acks[i]!.seq, ...g });
      messages++;
      if (group.length > 1) multiLine++;
    });
  }
  stored.sort((a, b) => a.seq - b.seq);
  return { stored, messages, multiLine };
}

/** What a traffic stream holds: messages and lines (the sum of every message's lines). */
export async function streamLines(nc: NatsConnection, stream = TRAFFIC_STREAM): Promise<{ messages: number; lines: number }> {
  const jsm = await jetstreamManager(nc);
  const messages = (await jsm.streams.info(stream)).state.messages;
  let lines = 0;
  if (messages === 0) return { messages, lines };
  const c = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const it = await c.consume({ max_bytes: 4 * 1024 * 1024 });
  for await (const m of it) {
    lines += trafficLines(m.data).length;
    if (m.info.pending === 0) break;
  }
  await it.close();
  return { messages, lines };
}
