/**
 * The benchmark's HTTP target: a minimal keep-alive node:http server answering 200 "ok" at once.
 * It runs in its own process (`node dist/bench/target.js`), so it never shares an event loop with
 * the load generator measuring it. It prints its port as the first line on stdout.
 *
 * It also counts what it served, so the bench can measure the rate *at the target* (first to
 * last request) apart from a tool's own start-up and reporting time:
 *   GET  /__stats  → {"count", "first_at", "last_at"}   (epoch ms, sub-ms precision; 0 = none yet)
 *   POST /__reset  → zeroes the counters; `/__reset?record=1` also records each request's arrival
 *   GET  /__arrivals → [q, arrival ms, q, arrival ms, …] since the last reset with record=1
 *                     (q: the `q` query parameter, the bench log's line number)
 * Those paths are not counted.
 *
 * With `--json BYTES` it answers a JSON document of about BYTES bytes instead of "ok", whose
 * `ts` field is its process id and request counter: it differs between any two targets on every
 * answer, the diff phase's noise (a bare counter would match between targets by chance).
 *
 * It exits on SIGTERM/SIGINT, and when its stdin closes: the bench holds the pipe, so the target
 * cannot outlive the bench even if the bench is killed hard.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const OK = Buffer.from('ok');
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(OK.length) };
const jsonAt = process.argv.indexOf('--json');
/** `--json BYTES`: the rest of the JSON body after its `ts` field, about BYTES bytes. */
const JSON_REST = jsonAt > 0 ? jsonRest(Number(process.argv[jsonAt + 1])) : undefined;

function jsonRest(bytes: number): string {
  const items: Array<{ id: number; name: string; price: number; tags: string[] }> = [];
  let rest = '';
  for (let i = 0; rest.length < bytes - 20; i++) {
    items.push({ id: i, name: `item ${i}`, price: i * 1.25, tags: ['a', 'b'] });
    rest = `"status":"ok","items":${JSON.stringify(items)}}`;
  }
  return rest;
}

let count = 0;
let firstAt = 0;
let lastAt = 0;
/** After `/__reset?record=1`: [q, arrival ms] pairs, flat (q = the bench log's line number). */
let record = false;
let arrivals: number[] = [];
const now = (): number => performance.timeOrigin + performance.now();

const server = createServer((req, res) => {
  const url = req.url ?? '';
  // `/__…`: control paths (charCode 95 is `_`); everything else is load.
  if (url.charCodeAt(1) === 95 && url.charCodeAt(2) === 95) {
    if (url === '/__stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ count, first_at: firstAt, last_at: lastAt }));
      return;
    }
    if (url === '/__arrivals') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(arrivals));
      return;
    }
    if (url.startsWith('/__reset')) {
      count = 0;
      firstAt = 0;
      lastAt = 0;
      arrivals = [];
      record = url.endsWith('?record=1');
      res.writeHead(204).end();
      return;
    }
  }
  const t = now();
  if (count === 0) firstAt = t;
  lastAt = t;
  count++;
  if (record) {
    const q = url.indexOf('q=');
    if (q >= 0) arrivals.push(Number(url.slice(q + 2)), t);
  }
  // A request body (none in the bench) is drained by node:http itself before the socket is reused.
  if (JSON_REST === undefined) {
    res.writeHead(200, HEADERS);
    res.end(OK);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`{"ts":"${process.pid}-${count}",${JSON_REST}`);
});
// Keep idle connections open across the bench's phases (node's default is 5 s).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;

let closing = false;
function stop(): void {
  if (closing) return;
  closing = true;
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

const host = process.env.BENCH_TARGET_HOST ?? '127.0.0.1';
const port = Number(process.env.BENCH_TARGET_PORT ?? 0);
server.listen(port, host, () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
