/**
 * The replayer's code warm-up: before it joins, its whole per-record path (decode, due-time
 * queue, request, response, stats) runs on synthetic records through its own Pool, whose new
 * connections `TargetConnections` sends to this loopback sink. Cold, the send path ran several
 * times slower for its first few thousand requests (interpreted code, and the Pool creating its
 * clients), which showed as ~0.5 s of lateness at the start of a paced replay.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DueRecord } from '../../shared/protocol.js';

/**
 * Requests of the warm-up: enough for V8 to compile the send path's functions optimised before
 * the first real request.
 */
export const WARMUP_REQUESTS = 4000;
/** Records handed over at once; responses come back between batches, as on a real replay. */
export const WARMUP_BATCH = 200;

export interface Sink {
  address: AddressInfo;
  /** Drops every connection (the Pool's clients then reconnect, to the target) and stops listening. */
  close(): void;
}

/** An HTTP server on loopback that answers every request with 200 "ok". */
export async function startSink(): Promise<Sink> {
  const server = createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: server.address() as AddressInfo,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * Records `from` … `from + n − 1` of the warm-up, all due at `due`: GETs with a query and a
 * header, every tenth a POST with a body, so both request shapes are compiled.
 */
export function warmupRecords(from: number, n: number, due: number): DueRecord[] {
  const records: DueRecord[] = [];
  for (let k = from; k < from + n; k++) {
    const post = k % 10 === 0;
    records.push({ ts: k, method: post ? 'POST' : 'GET', url: `/havok-warmup/${k}?q=${k}`, headers: { accept: '*/*' }, ...(post ? { body: '{}' } : {}), src: 0, seq: k, due, copy: 0 });
  }
  return records;
}
