/**
 * Synthetic access logs for benchmarks: `lines` requests evenly spaced at `ratePerSec`.
 *
 *   ts(i) = start + round(i × 1000 / ratePerSec)        (epoch ms)
 *
 * computed from a fixed origin, so spacing never drifts. JSONL is the default because its `ts`
 * has ms resolution; the `combined` format's timestamps have 1 s resolution, so a paced replay of
 * it sends one burst per second (kept for parser benchmarks, not for timing ones).
 *
 * Writes are streamed in chunks and wait for the stream to drain, so memory stays bounded for any
 * `lines` (issue 5 generates 5,000,000).
 *
 * CLI: node dist/bench/generate-log.js --lines N --rate R --out FILE [--start EPOCH_MS] [--format jsonl|combined]
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const LOG_FORMATS = ['jsonl', 'combined'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface GenerateOptions {
  lines: number;
  /** Requests per second of log time; > 0. */
  ratePerSec: number;
  /** Log time of the first line, epoch ms (default: 2024-01-01T00:00:00Z, so runs are reproducible). */
  start?: number;
  /** Default `jsonl`. */
  format?: LogFormat;
}

export interface GenerateResult {
  lines: number;
  bytes: number;
  firstTs: number;
  lastTs: number;
}

export const DEFAULT_START = Date.UTC(2024, 0, 1);
/** Distinct paths (`/items/0` … `/items/999`), so per-API stats see one template. */
const ITEMS = 1000;
/** Lines per write: big enough to amortise the stream's per-write cost, small enough to stay ~100 KiB. */
const LINES_PER_CHUNK = 2048;

/** Epoch ms of line `i` (integer ms, from the fixed origin). */
export function tsOf(i: number, start: number, ratePerSec: number): number {
  return start + Math.round((i * 1000) / ratePerSec);
}

export function urlOf(i: number): string {
  return `/items/${i % ITEMS}?q=${i}`;
}

export function jsonlLine(i: number, start: number, ratePerSec: number): string {
  return `{"ts":${tsOf(i, start, ratePerSec)},"method":"GET","url":"${urlOf(i)}"}\n`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** `[10/Oct/2000:13:55:36 +0000]` (UTC; the format cannot say more than the second). */
export function clfTime(ms: number): string {
  const d = new Date(ms);
  return `[${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000]`;
}

export function combinedLine(i: number, start: number, ratePerSec: number): string {
  return `10.0.${(i >> 8) & 255}.${i & 255} - - ${clfTime(tsOf(i, start, ratePerSec))} "GET ${urlOf(i)} HTTP/1.1" 200 2 "-" "havok-bench"\n`;
}

export async function generateLog(path: string, opts: GenerateOptions): Promise<GenerateResult> {
  const { lines, ratePerSec } = opts;
  if (!Number.isInteger(lines) || lines < 0) throw new RangeError(`lines must be a non-negative integer, got ${lines}`);
  if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec)) throw new RangeError(`ratePerSec must be a positive number, got ${ratePerSec}`);
  const start = opts.start ?? DEFAULT_START;
  const line = (opts.format ?? 'jsonl') === 'jsonl' ? jsonlLine : combinedLine;
  const out = createWriteStream(path);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined); // observed below; avoid an unhandled rejection meanwhile
  let bytes = 0;
  try {
    for (let i = 0; i < lines; ) {
      const end = Math.min(lines, i + LINES_PER_CHUNK);
      let chunk = '';
      for (; i < end; i++) chunk += line(i, start, ratePerSec);
      bytes += Buffer.byteLength(chunk);
      // Backpressure: wait for the file to take what is buffered before building more.
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
    }
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
  } finally {
    out.destroy();
  }
  return { lines, bytes, firstTs: start, lastTs: lines > 0 ? tsOf(lines - 1, start, ratePerSec) : start };
}

function usage(msg: string): never {
  process.stderr.write(`generate-log: ${msg}\nusage: node dist/bench/generate-log.js --lines N --rate R --out FILE [--start EPOCH_MS] [--format jsonl|combined]\n`);
  process.exit(2);
}

async function cli(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { lines: { type: 'string' }, rate: { type: 'string' }, out: { type: 'string' }, start: { type: 'string' }, format: { type: 'string' } },
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  const lines = Number(values.lines);
  const rate = Number(values.rate);
  const start = values.start === undefined ? undefined : Number(values.start);
  const format = (values.format ?? 'jsonl') as LogFormat;
  if (!Number.isInteger(lines) || lines < 0) usage(`--lines must be a non-negative integer, got ${JSON.stringify(values.lines)}`);
  if (!(rate > 0)) usage(`--rate must be a positive number, got ${JSON.stringify(values.rate)}`);
  if (!values.out) usage('--out is required');
  if (start !== undefined && !Number.isFinite(start)) usage(`--start must be epoch ms, got ${JSON.stringify(values.start)}`);
  if (!LOG_FORMATS.includes(format)) usage(`--format must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(values.format)}`);
  const t0 = performance.now();
  const r = await generateLog(values.out, { lines, ratePerSec: rate, start, format });
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(
    `wrote ${r.lines} lines (${(r.bytes / 1048576).toFixed(1)} MiB, ${format}) to ${values.out} in ${s.toFixed(1)} s; ` +
      `log time ${new Date(r.firstTs).toISOString()} .. ${new Date(r.lastTs).toISOString()}\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`generate-log: ${err.message}\n`);
    process.exit(1);
  });
}
