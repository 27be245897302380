/**
 * A small single-node Kafka broker for tests: real Kafka wire protocol over TCP (node:net), so the
 * real kafkajs client produces to it and consumes from it. Kafka cannot run here (DESIGN §5);
 * this is enough of it to test Havok's Kafka source at the wire, not a product:
 *
 * - one broker (node 0) that leads every partition and coordinates every group;
 * - topics are created by the test (`createTopic`), never automatically;
 * - records are kept in memory as the record batches (magic 2) producers sent, checked (CRC-32C),
 *   decoded (uncompressed, or gzip, snappy, lz4 or zstd through the same kafkajs codecs Havok
 *   registers: shared/kafka/codecs.ts) and given offsets; `compressions` tells each stored batch's codec; an idempotent producer's re-sent batch (a sequence
 *   already stored: InitProducerId 0 hands out the ids) is dropped; Fetch returns whole stored batches, as Kafka does, so a
 *   batch may start before the fetch offset and the client skips the head;
 * - one version per API, the one advertised in ApiVersions (kafkajs uses the highest version both
 *   sides know): ApiVersions 0–2, Metadata 1, Produce 3, Fetch 4, ListOffsets 1 (earliest, latest,
 *   by timestamp), and the group calls of a consumer: FindCoordinator 0, JoinGroup 1, SyncGroup 0,
 *   Heartbeat 0, LeaveGroup 0, OffsetFetch 1, OffsetCommit 2 (groups are joined at once, without
 *   waiting for other members; sessions never expire);
 * - optional TLS (`tls` option: a key and certificate) and SASL/PLAIN (`sasl` option): SaslHandshake 1 and SaslAuthenticate 1; until a
 *   connection has authenticated, any other request closes it, as Kafka does;
 * - requests on one connection are answered in order, one at a time; a Fetch with nothing to return
 *   waits up to its max wait time for a Produce;
 * - `calls` counts requests per API, so a test can check, say, that nothing was committed.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { kafkaCodecOf, registerKafkaCodecs } from '../../shared/kafka/codecs.js';

/** API keys (Kafka protocol numbers) and the one version of each this broker speaks. */
const API = {
  Produce: { key: 0, version: 3 },
  Fetch: { key: 1, version: 4 },
  ListOffsets: { key: 2, version: 1 },
  Metadata: { key: 3, version: 1 },
  OffsetCommit: { key: 8, version: 2 },
  OffsetFetch: { key: 9, version: 1 },
  FindCoordinator: { key: 10, version: 0 },
  JoinGroup: { key: 11, version: 1 },
  Heartbeat: { key: 12, version: 0 },
  LeaveGroup: { key: 13, version: 0 },
  SyncGroup: { key: 14, version: 0 },
  SaslHandshake: { key: 17, version: 1 },
  ApiVersions: { key: 18, version: 2 },
  SaslAuthenticate: { key: 36, version: 1 },
  InitProducerId: { key: 22, version: 0 },
} as const;
type ApiName = keyof typeof API;
const API_BY_KEY = new Map<number, ApiName>(Object.entries(API).map(([name, a]) => [a.key, name as ApiName]));

/** Kafka error codes used here. */
const ERR = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  UNSUPPORTED_VERSION: 35,
  SASL_AUTHENTICATION_FAILED: 58,
  UNSUPPORTED_COMPRESSION_TYPE: 76,
} as const;

const NODE_ID = 0;

// ---------------------------------------------------------------------------------------------
// Primitive types of the protocol: big-endian integers, int16-length strings, int32-length bytes,
// int32-count arrays; inside record batches, zig-zag varints.

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  int8(): number {
    return this.buf.readInt8(this.advance(1));
  }
  int16(): number {
    return this.buf.readInt16BE(this.advance(2));
  }
  int32(): number {
    return this.buf.readInt32BE(this.advance(4));
  }
  int64(): bigint {
    return this.buf.readBigInt64BE(this.advance(8));
  }
  /** Nullable string: int16 length, -1 = null. */
  string(): string | null {
    const n = this.int16();
    return n < 0 ? null : this.buf.toString('utf8', this.advance(n), this.pos);
  }
  /** Nullable bytes: int32 length, -1 = null. */
  bytes(): Buffer | null {
    const n = this.int32();
    return n < 0 ? null : this.buf.subarray(this.advance(n), this.pos);
  }
  /** Nullable array: int32 count, -1 = null. */
  array<T>(item: (r: Reader) => T): T[] | null {
    const n = this.int32();
    if (n < 0) return null;
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }
  /** The next `n` bytes as they are. */
  bytesOf(n: number): Buffer {
    return this.buf.subarray(this.advance(n), this.pos);
  }
  /** Zig-zag varint (up to 64 bits, returned as a bigint). */
  varlong(): bigint {
    let raw = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (shift > 63n) throw new Error('varint too long');
      const b = this.buf[this.advance(1)];
      raw |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    return (raw >> 1n) ^ -(raw & 1n);
  }
  varint(): number {
    return Number(this.varlong());
  }
  /** Varint length then bytes, -1 = null (record keys, values, headers). */
  varBytes(): Buffer | null {
    const n = this.varint();
    return n < 0 ? null : this.buf.subarray(this.advance(n), this.pos);
  }
  private advance(n: number): number {
    if (this.pos + n > this.buf.length) throw new RangeError('read past the end of the message');
    const at = this.pos;
    this.pos += n;
    return at;
  }
}

class Writer {
  private readonly parts: Buffer[] = [];
  int8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(v);
    return this.raw(b);
  }
  int16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    return this.raw(b);
  }
  int32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return this.raw(b);
  }
  int64(v: bigint | number): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(v));
    return this.raw(b);
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  string(v: string | null): this {
    if (v === null) return this.int16(-1);
    const b = Buffer.from(v, 'utf8');
    return this.int16(b.length).raw(b);
  }
  bytes(v: Buffer | null): this {
    if (v === null) return this.int32(-1);
    return this.int32(v.length).raw(v);
  }
  array<T>(items: readonly T[], item: (w: Writer, v: T) => void): this {
    this.int32(items.length);
    for (const v of items) item(this, v);
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** CRC-32C (Castagnoli), the checksum of record batches (magic 2). */
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf: Buffer): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC32C_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Record batches (magic 2):
//   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32 |
//   attributes int16 | lastOffsetDelta int32 | firstTimestamp int64 | maxTimestamp int64 |
//   producerId int64 | producerEpoch int16 | baseSequence int32 | records [count int32]
// The CRC covers everything from `attributes` to the end, so the broker can set baseOffset
// without recomputing it. Each record:
//   length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
//   key varbytes | value varbytes | headers [count varint] (key varstring, value varbytes)

const BATCH_HEADER = 61;
const CRC_START = 21;

export interface StoredRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer | null]>;
}

interface StoredBatch {
  baseOffset: number;
  /** Offset of the batch's last record. */
  lastOffset: number;
  /** The batch as the producer sent it, with the broker's baseOffset written in. */
  raw: Buffer;
  /** Its compression attribute: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
  compression: number;
}

/** Splits a produce request's record set into batches; throws a Kafka error code when bad. */
async function parseBatches(set: Buffer): Promise<Array<{ raw: Buffer; compression: number; records: Array<Omit<StoredRecord, 'offset'> & { offsetDelta: number }>; lastOffsetDelta: number; producerId: bigint; baseSequence: number }>> {
  const out = [];
  let pos = 0;
  while (pos < set.length) {
    if (set.length - pos < BATCH_HEADER) throw ERR.CORRUPT_MESSAGE;
    const size = 12 + set.readInt32BE(pos + 8);
    if (size < BATCH_HEADER || pos + size > set.length) throw ERR.CORRUPT_MESSAGE;
    const raw = Buffer.from(set.subarray(pos, pos + size));
    pos += size;
    if (raw.readInt8(16) !== 2) throw ERR.CORRUPT_MESSAGE;
    if (raw.readUInt32BE(17) !== crc32c(raw.subarray(CRC_START))) throw ERR.CORRUPT_MESSAGE;
    const r = new Reader(raw.subarray(CRC_START));
    const attributes = r.int16();
    // Compression (attribute bits 0–2: none, gzip, snappy, lz4, zstd) covers the records after their count.
    const compression = attributes & 0x07;
    if (compression > 4) throw ERR.UNSUPPORTED_COMPRESSION_TYPE;
    const lastOffsetDelta = r.int32();
    const firstTimestamp = Number(r.int64());
    r.int64(); // maxTimestamp
    const producerId = r.int64(); // -1 = not an idempotent producer
    r.int16(); // producerEpoch
    const baseSequence = r.int32();
    const count = r.int32();
    let body = r;
    if (compression !== 0) {
      await registerKafkaCodecs();
      const codec = kafkaCodecOf(compression);
      if (!codec) throw ERR.UNSUPPORTED_COMPRESSION_TYPE;
      body = new Reader(await codec.decompress(Buffer.from(r.bytesOf(r.remaining))).catch(() => Promise.reject(ERR.CORRUPT_MESSAGE)));
    }
    const records = Array.from({ length: Math.max(0, count) }, () => body).map((rr) => {
      const len = rr.varint();
      const rec = new Reader(rr.bytesOf(len));
      rec.int8(); // attributes (unused)
      const timestamp = firstTimestamp + Number(rec.varlong());
      const offsetDelta = rec.varint();
      const key = rec.varBytes();
      const value = rec.varBytes();
      const headers: Array<[string, Buffer | null]> = [];
      const n = rec.varint();
      for (let i = 0; i < n; i++) headers.push([(rec.varBytes() ?? Buffer.alloc(0)).toString('utf8'), rec.varBytes()]);
      return { timestamp, offsetDelta, key, value, headers };
    });
    out.push({ raw, compression, records, lastOffsetDelta, producerId, baseSequence });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

class Partition {
  readonly batches: StoredBatch[] = [];
  /** Every record, in offset order (offsets are dense here: no compaction, no deletion). */
  readonly records: StoredRecord[] = [];
  /** End of the furthest batch a Fetch returned: how far clients have read ahead. */
  fetchedUpTo = 0;
  /** Log end offset = high watermark (one replica: every record is committed at once). */
  get end(): number {
    return this.records.length;
  }
}

interface Group {
  generation: number;
  protocol: string | null;
  leader: string | null;
  /** member id → the metadata of the protocol chosen (for the leader's JoinGroup answer). */
  members: Map<string, Map<string, Buffer>>;
  assignments: Map<string, Buffer>;
  /** "topic/partition" → committed offset. */
  offsets: Map<string, bigint>;
}

export interface KafkaBrokerHandle {
  host: string;
  port: number;
  /** `host:port`, for `[fetcher.kafka] brokers`. */
  address: string;
  /** Requests received, per API name (`Produce`, `OffsetCommit`, …). */
  calls: Record<string, number>;
  /** Group ids that were joined. */
  groups(): string[];
  createTopic(name: string, partitions: number): void;
  /** Records of a partition, as stored. */
  records(topic: string, partition: number): readonly StoredRecord[];
  /** End offset of the furthest batch of a partition any Fetch returned. */
  fetchedUpTo(topic: string, partition: number): number;
  /** The compression attribute of each batch of a partition, in offset order (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd). */
  compressions(topic: string, partition: number): number[];
  stop(): Promise<void>;
}

export interface KafkaBrokerOptions {
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Topics to create, name → partitions. */
  topics?: Record<string, number>;
  /** Require SASL/PLAIN with these credentials. */
  sasl?: { username: string; password: string };
  /** Serve TLS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

/** Per-connection state. */
interface Conn {
  authenticated: boolean;
}

export async function startKafkaBroker(opts: KafkaBrokerOptions = {}): Promise<KafkaBrokerHandle> {
  const host = opts.host ?? '127.0.0.1';
  const topics = new Map<string, Partition[]>();
  const groups = new Map<string, Group>();
  const calls: Record<string, number> = {};
  const sockets = new Set<Socket>();
  /** Fetches waiting for data; woken by every Produce. */
  const waiters = new Set<() => void>();
  let port = 0;
  let nextMember = 1;

  const createTopic = (name: string, n: number): void => {
    if (!topics.has(name)) topics.set(name, Array.from({ length: n }, () => new Partition()));
  };
  for (const [name, n] of Object.entries(opts.topics ?? {})) createTopic(name, n);
  const partitionOf = (topic: string, p: number): Partition | undefined => topics.get(topic)?.[p];
  /** Idempotent producers: `producerId/topic/partition` → the last sequence stored. */
  const sequences = new Map<string, number>();
  let nextProducerId = 1000n;

  // --- one handler per API: (request body reader, response writer) -------------------------

  const handlers: Record<ApiName, (r: Reader, w: Writer, version: number, conn: Conn) => Promise<void> | void> = {
    ApiVersions(_r, w, version) {
      // kafkajs tries v2, then v1, v0; the answer has the same shape, plus throttle time from v1.
      const all = Object.values(API);
      w.int16(version > API.ApiVersions.version ? ERR.UNSUPPORTED_VERSION : ERR.NONE);
      w.array(all, (ww, a) => ww.int16(a.key).int16(a.key === API.ApiVersions.key ? 0 : a.version).int16(a.version));
      if (version >= 1) w.int32(0);
    },

    InitProducerId(r, w) {
      r.string(); // transactional id (no transactions here)
      r.int32(); // transaction timeout
      w.int32(0).int16(ERR.NONE).int64(nextProducerId++).int16(0);
    },

    Metadata(r, w) {
      const wanted = r.array((rr) => rr.string() ?? '');
      const names = wanted ?? [...topics.keys()]; // null = every topic
      w.array([0], (ww) => ww.int32(NODE_ID).string(host).int32(port).string(null));
      w.int32(NODE_ID); // controller
      w.array(names, (ww, name) => {
        const parts = topics.get(name);
        ww.int16(parts ? ERR.NONE : ERR.UNKNOWN_TOPIC_OR_PARTITION).string(name).bool(false);
        ww.array((parts ?? []).map((_, i) => i), (pw, i) => {
          pw.int16(ERR.NONE).int32(i).int32(NODE_ID);
          pw.array([NODE_ID], (x, id) => x.int32(id)); // replicas
          pw.array([NODE_ID], (x, id) => x.int32(id)); // in-sync replicas
        });
      });
    },

    async Produce(r, w) {
      r.string(); // transactional id
      const acks = r.int16();
      r.int32(); // timeout
      const request = r.array((rt) => ({ topic: rt.string() ?? '', parts: rt.array((rp) => ({ partition: rp.int32(), set: rp.bytes() ?? Buffer.alloc(0) })) ?? [] })) ?? [];
      const results: Array<{ topic: string; parts: Array<{ partition: number; error: number; base: number }> }> = [];
      for (const { topic, parts } of request) {
        const answers = [];
        for (const { partition, set } of parts) answers.push(await append(topic, partition, set));
        results.push({ topic, parts: answers });
      }
      for (const wake of [...waiters]) wake();
      if (acks === 0) throw NO_RESPONSE;
      w.array(results, (ww, t) =>
        ww.string(t.topic).array(t.parts, (pw, p) => pw.int32(p.partition).int16(p.error).int64(p.base).int64(-1)),
      );
      w.int32(0); // throttle time
    },

    async Fetch(r, w) {
      r.int32(); // replica id
      const maxWait = r.int32();
      r.int32(); // min bytes: any data answers at once
      const maxBytes = r.int32();
      r.int8(); // isolation level: there are no transactions here
      const wanted = r.array((rt) => ({
        topic: rt.string() ?? '',
        parts: rt.array((rp) => ({ partition: rp.int32(), offset: Number(rp.int64()), maxBytes: rp.int32() })) ?? [],
      })) ?? [];
      const hasData = (): boolean => wanted.some((t) => t.parts.some((q) => { const p = partitionOf(t.topic, q.partition); return !!p && q.offset < p.end; }));
      if (!hasData() && maxWait > 0) {
        // Long poll: answer when a Produce arrives or the max wait is over.
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            if (!hasData()) return;
            clearTimeout(timer);
            waiters.delete(wake);
            resolve();
          };
          const timer = setTimeout(() => {
            waiters.delete(wake);
            resolve();
          }, maxWait);
          waiters.add(wake);
        });
      }
      let budget = maxBytes;
      w.int32(0); // throttle time
      w.array(wanted, (ww, t) =>
        ww.string(t.topic).array(t.parts, (pw, q) => {
          const p = partitionOf(t.topic, q.partition);
          const error = !p ? ERR.UNKNOWN_TOPIC_OR_PARTITION : q.offset < 0 || q.offset > p.end ? ERR.OFFSET_OUT_OF_RANGE : ERR.NONE;
          const chosen: Buffer[] = [];
          if (p && error === ERR.NONE) {
            // Whole batches from the one holding the fetch offset; at least one, then as many as
            // the partition's and the response's byte limits allow.
            let size = 0;
            for (const b of p.batches) {
              if (b.lastOffset < q.offset) continue;
              if (chosen.length > 0 && (size + b.raw.length > q.maxBytes || size + b.raw.length > budget)) break;
              chosen.push(b.raw);
              size += b.raw.length;
              p.fetchedUpTo = Math.max(p.fetchedUpTo, b.lastOffset + 1);
            }
            budget -= size;
          }
          pw.int32(q.partition).int16(error);
          pw.int64(p?.end ?? -1).int64(p?.end ?? -1); // high watermark, last stable offset
          pw.array([], () => undefined); // aborted transactions
          pw.bytes(Buffer.concat(chosen));
        }),
      );
    },

    ListOffsets(r, w) {
      r.int32(); // replica id
      const wanted = r.array((rt) => ({ topic: rt.string() ?? '', parts: rt.array((rp) => ({ partition: rp.int32(), ts: Number(rp.int64()) })) ?? [] })) ?? [];
      w.array(wanted, (ww, t) =>
        ww.string(t.topic).array(t.parts, (pw, q) => {
          const p = partitionOf(t.topic, q.partition);
          if (!p) return void pw.int32(q.partition).int16(ERR.UNKNOWN_TOPIC_OR_PARTITION).int64(-1).int64(-1);
          let offset: number;
          let ts = -1;
          if (q.ts === -1) offset = p.end; // latest
          else if (q.ts === -2) offset = 0; // earliest
          else {
            // The first record whose timestamp is at or after the one asked for; -1 when none.
            const hit = p.records.find((rec) => rec.timestamp >= q.ts);
            offset = hit ? hit.offset : -1;
            ts = hit ? hit.timestamp : -1;
          }
          pw.int32(q.partition).int16(ERR.NONE).int64(ts).int64(offset);
        }),
      );
    },

    SaslHandshake(r, w) {
      const mechanism = r.string();
      w.int16(opts.sasl && mechanism === 'PLAIN' ? ERR.NONE : ERR.UNSUPPORTED_SASL_MECHANISM);
      w.array(opts.sasl ? ['PLAIN'] : [], (ww, m) => ww.string(m));
    },

    SaslAuthenticate(r, w, _version, conn) {
      // PLAIN (RFC 4616): authorization id, user name and password, separated by NUL bytes.
      const [, user, password] = (r.bytes() ?? Buffer.alloc(0)).toString('utf8').split('\0');
      const ok = !!opts.sasl && user === opts.sasl.username && password === opts.sasl.password;
      conn.authenticated = ok;
      w.int16(ok ? ERR.NONE : ERR.SASL_AUTHENTICATION_FAILED);
      w.string(ok ? null : 'Authentication failed: Invalid username or password');
      w.bytes(Buffer.alloc(0));
      w.int64(0); // session lifetime: unlimited
    },

    FindCoordinator(r, w) {
      r.string(); // group id: this broker coordinates every group
      w.int16(ERR.NONE).int32(NODE_ID).string(host).int32(port);
    },

    JoinGroup(r, w) {
      const groupId = r.string() ?? '';
      r.int32(); // session timeout
      r.int32(); // rebalance timeout
      let memberId = r.string() ?? '';
      r.string(); // protocol type ("consumer")
      const protocols = r.array((rp) => [rp.string() ?? '', Buffer.from(rp.bytes() ?? Buffer.alloc(0))] as const) ?? [];
      let g = groups.get(groupId);
      if (!g) {
        g = { generation: 0, protocol: null, leader: null, members: new Map(), assignments: new Map(), offsets: new Map() };
        groups.set(groupId, g);
      }
      if (memberId === '') memberId = `member-${nextMember++}`;
      else if (!g.members.has(memberId)) return void w.int16(ERR.UNKNOWN_MEMBER_ID).int32(-1).string('').string('').string(memberId).array([], () => undefined);
      g.members.set(memberId, new Map(protocols));
      // Rebalance at once: a new generation with the members known now; the first one leads and
      // the protocol is the first one every member supports.
      g.generation++;
      g.leader = g.members.has(g.leader ?? '') ? g.leader : memberId;
      const all = [...g.members.values()];
      g.protocol = protocols.map(([name]) => name).find((name) => all.every((m) => m.has(name))) ?? protocols[0]?.[0] ?? '';
      g.assignments.clear();
      const members = memberId === g.leader ? [...g.members.entries()] : [];
      w.int16(ERR.NONE).int32(g.generation).string(g.protocol).string(g.leader).string(memberId);
      w.array(members, (ww, [id, meta]) => ww.string(id).bytes(meta.get(g!.protocol!) ?? Buffer.alloc(0)));
    },

    SyncGroup(r, w) {
      const groupId = r.string() ?? '';
      const generation = r.int32();
      const memberId = r.string() ?? '';
      const assignments = r.array((ra) => [ra.string() ?? '', Buffer.from(ra.bytes() ?? Buffer.alloc(0))] as const) ?? [];
      const g = groups.get(groupId);
      const error = memberError(g, memberId, generation);
      if (error !== ERR.NONE) return void w.int16(error).bytes(Buffer.alloc(0));
      if (memberId === g!.leader) for (const [id, a] of assignments) g!.assignments.set(id, a);
      w.int16(ERR.NONE).bytes(g!.assignments.get(memberId) ?? Buffer.alloc(0));
    },

    Heartbeat(r, w) {
      const groupId = r.string() ?? '';
      const generation = r.int32();
      const memberId = r.string() ?? '';
      w.int16(memberError(groups.get(groupId), memberId, generation));
    },

    LeaveGroup(r, w) {
      const g = groups.get(r.string() ?? '');
      const memberId = r.string() ?? '';
      if (!g || !g.members.delete(memberId)) return void w.int16(ERR.UNKNOWN_MEMBER_ID);
      if (g.leader === memberId) g.leader = g.members.keys().next().value ?? null;
      w.int16(ERR.NONE);
    },

    OffsetFetch(r, w) {
      const g = groups.get(r.string() ?? '');
      const wanted = r.array((rt) => ({ topic: rt.string() ?? '', parts: rt.array((rp) => rp.int32()) ?? [] })) ?? [];
      w.array(wanted, (ww, t) =>
        ww.string(t.topic).array(t.parts, (pw, p) => pw.int32(p).int64(g?.offsets.get(`${t.topic}/${p}`) ?? -1n).string('').int16(ERR.NONE)),
      );
    },

    OffsetCommit(r, w) {
      const groupId = r.string() ?? '';
      r.int32(); // generation
      r.string(); // member id
      r.int64(); // retention time
      const commits = r.array((rt) => ({ topic: rt.string() ?? '', parts: rt.array((rp) => ({ partition: rp.int32(), offset: rp.int64(), meta: rp.string() })) ?? [] })) ?? [];
      const g = groups.get(groupId);
      w.array(commits, (ww, t) =>
        ww.string(t.topic).array(t.parts, (pw, q) => {
          g?.offsets.set(`${t.topic}/${q.partition}`, q.offset);
          pw.int32(q.partition).int16(g ? ERR.NONE : ERR.UNKNOWN_MEMBER_ID);
        }),
      );
    },
  };

  /** Stores a produced record set on a partition: its error code and the offset of its first record. */
  async function append(topic: string, partition: number, set: Buffer): Promise<{ partition: number; error: number; base: number }> {
    const p = partitionOf(topic, partition);
    if (!p) return { partition, error: ERR.UNKNOWN_TOPIC_OR_PARTITION, base: -1 };
    let batches;
    try {
      batches = await parseBatches(set);
    } catch (code) {
      return { partition, error: typeof code === 'number' ? code : ERR.CORRUPT_MESSAGE, base: -1 };
    }
    const base = p.end;
    for (const b of batches) {
      // Idempotent producers: a batch whose sequence was stored already is a re-send; drop it.
      if (b.producerId >= 0n) {
        const seqKey = `${b.producerId}/${topic}/${partition}`;
        if ((sequences.get(seqKey) ?? -1) >= b.baseSequence) continue;
        sequences.set(seqKey, b.baseSequence + b.lastOffsetDelta);
      }
      const baseOffset = p.end;
      b.raw.writeBigInt64BE(BigInt(baseOffset), 0);
      for (const rec of b.records) p.records.push({ offset: baseOffset + rec.offsetDelta, timestamp: rec.timestamp, key: rec.key, value: rec.value, headers: rec.headers });
      p.batches.push({ baseOffset, lastOffset: baseOffset + b.lastOffsetDelta, raw: b.raw, compression: b.compression });
    }
    return { partition, error: ERR.NONE, base };
  }

  function memberError(g: Group | undefined, memberId: string, generation: number): number {
    if (!g || !g.members.has(memberId)) return ERR.UNKNOWN_MEMBER_ID;
    if (generation !== g.generation) return ERR.ILLEGAL_GENERATION;
    return ERR.NONE;
  }

  // --- connections: size-prefixed frames in, answered one at a time, in order ---------------

  const serve = (socket: Socket): void => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    let chain = Promise.resolve();
    const conn: Conn = { authenticated: !opts.sasl };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const frame = pending.subarray(4, 4 + pending.readInt32BE(0));
        pending = pending.subarray(4 + frame.length);
        chain = chain.then(() => answer(socket, conn, frame));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };

  async function answer(socket: Socket, conn: Conn, frame: Buffer): Promise<void> {
    if (socket.destroyed) return;
    const r = new Reader(frame);
    const apiKey = r.int16();
    const version = r.int16();
    const correlationId = r.int32();
    r.string(); // client id
    const name = API_BY_KEY.get(apiKey);
    calls[name ?? `api-${apiKey}`] = (calls[name ?? `api-${apiKey}`] ?? 0) + 1;
    // An API this broker does not speak, or another version of one it does: Kafka closes the
    // connection (ApiVersions excepted: its answer tells the client what to use).
    if (!name || (version !== API[name].version && name !== 'ApiVersions')) {
      socket.destroy();
      return;
    }
    if (!conn.authenticated && name !== 'ApiVersions' && name !== 'SaslHandshake' && name !== 'SaslAuthenticate') {
      socket.destroy();
      return;
    }
    const w = new Writer();
    try {
      await handlers[name](r, w, version, conn);
    } catch (err) {
      if (err === NO_RESPONSE) return;
      socket.destroy(); // a request this broker cannot read: as Kafka does, drop the connection
      return;
    }
    const body = w.build();
    const head = Buffer.alloc(8);
    head.writeInt32BE(4 + body.length, 0);
    head.writeInt32BE(correlationId, 4);
    socket.write(Buffer.concat([head, body]));
  }

  const server: Server = opts.tls ? createTlsServer({ key: opts.tls.key, cert: opts.tls.cert }, serve) : createServer(serve);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  port = (server.address() as { port: number }).port;

  return {
    host,
    port,
    address: `${host}:${port}`,
    calls,
    groups: () => [...groups.keys()],
    createTopic,
    records: (topic, partition) => partitionOf(topic, partition)?.records ?? [],
    fetchedUpTo: (topic, partition) => partitionOf(topic, partition)?.fetchedUpTo ?? 0,
    compressions: (topic, partition) => (partitionOf(topic, partition)?.batches ?? []).map((b) => b.compression),
    stop: async () => {
      for (const wake of [...waiters]) wake();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Thrown by a handler whose request wants no answer (Produce with acks = 0). */
const NO_RESPONSE = Symbol('no response');
