/**
 * One POST /log/repo/{repo}, from request to answer (the route in server.ts only adapts it):
 *
 * 404 unknown repo · 401 the repo has a token and the POST does not carry it · 415 content type or encoding not decodable · 413 over max_body_bytes
 * (declared, read or inflated) · 400 bad gzip, not UTF-8, bad Idempotency-Key · 503 +
 * Retry-After when the byte budget is spent or the store refuses / does not answer · 200
 * `{accepted, dropped, malformed, sampled_out}` only once the store acknowledged every accepted
 * line (`sampled_out`: lines the repo's `sample` left out, by their key).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from '../../shared/log.js';
import { bodyEncoding, decodeBody, readRaw } from './body.js';
import type { ByteBudget } from './budget.js';
import { IngestError, StoreError } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import type { Producer } from './outputs/types.js';
import { processBody, type Rejected, type RepoPipeline } from './pipeline/pipeline.js';
import type { Sampler } from './sampler.js';

export interface Repo {
  name: string;
  pipeline: RepoPipeline;
  producer: Producer;
  producerLabel: string;
  /** `[gateway.repos.<name>] token`: the bearer token its POSTs must carry. */
  token?: string;
}

export interface IngestDeps {
  repos: ReadonlyMap<string, Repo>;
  budget: ByteBudget;
  maxBodyBytes: number;
  metrics: GatewayMetrics;
  sampler: Sampler;
  log: Logger;
  now: () => number;
}

export interface IngestRequest {
  repo: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Readable;
}

export interface Counts {
  accepted: number;
  dropped: number;
  malformed: number;
  /** Lines the repo's sampling did not keep (their key is not sampled): counted, never stored. */
  sampled_out: number;
}

/** A message id is `<key>:<index>`: visible ASCII, no spaces, at most 200 characters. */
const ID_KEY = /^[\x21-\x7e]{1,200}$/;

const header = (h: IngestRequest['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Whether a POST may write to a repo: no token configured, or `Authorization: Bearer <token>`.
 * Compared in constant time (as digests, so the length leaks nothing either). Pure.
 */
export function authorized(h: IngestRequest['headers'], token: string | undefined): boolean {
  if (token === undefined) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header(h, 'authorization') ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

/** The Idempotency-Key (or X-Batch-Id) of a POST; 400 when it cannot be a message id. Pure. */
export function idempotencyKey(h: IngestRequest['headers']): string | undefined {
  const key = header(h, 'idempotency-key') ?? header(h, 'x-batch-id');
  if (key === undefined) return undefined;
  if (!ID_KEY.test(key)) throw new IngestError(400, 'Idempotency-Key must be 1-200 visible ASCII characters without spaces');
  return key;
}

export async function ingest(req: IngestRequest, d: IngestDeps): Promise<Counts> {
  const receivedMs = d.now();
  const repo = d.repos.get(req.repo);
  if (!repo) throw new IngestError(404, `no repo ${JSON.stringify(req.repo)} in [gateway.repos]`);
  if (!authorized(req.headers, repo.token)) throw new IngestError(401, `repo ${JSON.stringify(repo.name)} needs Authorization: Bearer <its token>`);
  const encoding = bodyEncoding(header(req.headers, 'content-type'), header(req.headers, 'content-encoding'));
  const idKey = idempotencyKey(req.headers);
  const lengthHeader = header(req.headers, 'content-length');
  const declared = lengthHeader === undefined ? undefined : Number(lengthHeader);
  if (declared !== undefined && declared <= d.maxBodyBytes && d.budget.inUse + declared > d.budget.limit) {
    throw new IngestError(503, 'the gateway is at its in-flight byte budget');
  }
  let taken = 0;
  const lim = { maxBytes: d.maxBodyBytes, budget: d.budget, onTaken: (n: number) => (taken += n) };
  try {
    const raw = await readRaw(req.body, declared, lim);
    const text = await decodeBody(raw, encoding, lim);
    const result = processBody(text, repo.name, repo.pipeline, receivedMs, repo.producer.maxPayload);
    logSamples(d, repo.name, 'malformed', result.malformed);
    logSamples(d, repo.name, 'dropped', result.dropped);
    d.metrics.lines.inc({ repo: repo.name, outcome: 'malformed' }, result.malformed.length);
    d.metrics.lines.inc({ repo: repo.name, outcome: 'dropped' }, result.dropped.length);
    d.metrics.lines.inc({ repo: repo.name, outcome: 'sampled_out' }, result.sampled_out);
    if (result.stored.length) {
      const stop = d.metrics.storeSeconds.startTimer({ producer: repo.producerLabel });
      try {
        await repo.producer.store(repo.name, result.stored, idKey);
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        d.log.warn({ repo: repo.name, producer: repo.producerLabel, lines: result.stored.length, err: err.message }, 'store did not acknowledge the lines: 503, the sender retries');
        throw new IngestError(503, `store unavailable: ${err.message}`, { cause: err });
      } finally {
        stop();
      }
      d.metrics.lines.inc({ repo: repo.name, outcome: 'accepted' }, result.stored.length);
    }
    return { accepted: result.stored.length, dropped: result.dropped.length, malformed: result.malformed.length, sampled_out: result.sampled_out };
  } finally {
    d.budget.give(taken);
  }
}

function logSamples(d: IngestDeps, repo: string, outcome: 'malformed' | 'dropped', lines: Rejected[]): void {
  for (const l of lines) {
    if (!d.sampler.take(d.now())) return;
    d.log.warn({ repo, line: l.index, reason: l.reason, text: l.text }, `${outcome} line (sample)`);
  }
}
