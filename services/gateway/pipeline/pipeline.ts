/**
 * One repo's pipeline, pure: a body's text → the lines to store (subject and payload, by line
 * index), the dropped and the malformed ones with their reasons. The gateway's shell reads the
 * body, runs this, and stores the result.
 *
 * Per line: decode JSON (an object, else malformed) → executers in order (a failing step drops
 * the line) → the constraint, checked on the shape that would be stored (dropped if it fails) →
 * the repo's `sample`, on that same shape (a line whose key is not sampled is counted as
 * sampled out, not stored) → the payload, the line plus `received_ms` (the traffic stream
 * contract, shared/protocol.ts), and its trace id token for the index.
 * Blank lines are skipped and not counted; a line's index is its place in the body (0-based,
 * blank lines included), so the same body always gives the same indexes (message ids).
 */
import { trafficSubject } from '../../../shared/protocol.js';
import { shouldSample } from '../../traffic/keep.js';
import { traceIdOf, traceKeyToken } from '../../traffic/line.js';
import type { RepoSettings } from '../settings.js';
import { compileConstraint } from './constraint.js';
import { runExecuter, type Line } from './executers.js';

export interface StoredLine {
  /** Place in the body, 0-based: the `<index>` of the message id `<key>:<index>`. */
  index: number;
  subject: string;
  payload: string;
  /** Its trace id as an index token (the repo's trace_field, traffic/line.ts), when it has one. */
  trace?: string;
}

export interface Rejected {
  index: number;
  reason: string;
  /** The line's first characters, for the log's samples. */
  text: string;
}

export interface BodyResult {
  stored: StoredLine[];
  dropped: Rejected[];
  malformed: Rejected[];
  /** Lines the repo's sampling left out (consistent per key): counted, not stored, not logged. */
  sampled_out: number;
}

export type LineVerdict = { ok: true; line: Line; trace?: string } | { ok: false; outcome: 'malformed' | 'dropped'; reason: string } | { ok: false; outcome: 'sampled_out' };

const SAMPLED_OUT: LineVerdict = { ok: false, outcome: 'sampled_out' };

export type RepoPipeline = ((text: string) => LineVerdict) & {
  /** No executers: an accepted line is its text as sent (its JSON need not be written again). */
  readonly asSent?: boolean;
};

const SAMPLE_CHARS = 200;

const isObject = (v: unknown): v is Line => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Compiles a repo's steps once; the result judges one line. */
export function compileRepo(repo: RepoSettings): RepoPipeline {
  const constraint = compileConstraint(repo.constraint);
  const steps = repo.executers;
  const judge: RepoPipeline = (text) => {
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch (err) {
      return { ok: false, outcome: 'malformed', reason: `not JSON: ${(err as Error).message}` };
    }
    if (!isObject(line)) return { ok: false, outcome: 'malformed', reason: 'not a JSON object' };
    for (let i = 0; i < steps.length; i++) {
      const err = runExecuter(line, steps[i]);
      if (err !== undefined) return { ok: false, outcome: 'dropped', reason: `executers[${i}] (${steps[i].type}): ${err}` };
    }
    const failed = constraint(line);
    if (failed !== undefined) return { ok: false, outcome: 'dropped', reason: `constraint: ${failed}` };
    if (!shouldSample(line, repo.sample)) return SAMPLED_OUT;
    // Found here, on the object already parsed, the trace index needs no second parse of the line.
    const trace = traceIdOf(line, repo.trace_field);
    return trace === undefined ? { ok: true, line } : { ok: true, line, trace: traceKeyToken(trace) };
  };
  return steps.length === 0 ? Object.assign(judge, { asSent: true }) : judge;
}

const hasMember = (o: Line): boolean => {
  for (const _ in o) return true;
  return false;
};

/**
 * The stored JSON of an accepted line: the line plus `received_ms` (replacing one the sender
 * wrote). Written into the sent text when the pipeline changed nothing (a second JSON.stringify
 * per line was a fifth of the gateway's CPU), else from the object.
 */
export function storedJson(raw: string, line: Line, receivedMs: number, asSent: boolean): string {
  // Parsed as an object, the text ends with its closing brace; `{}` has no member to follow; a
  // sender's own received_ms is replaced, not repeated.
  if (asSent && hasMember(line) && !('received_ms' in line)) {
    const text = raw.trimEnd();
    if (text.charCodeAt(text.length - 1) === 0x7d) return `${text.slice(0, -1)},"received_ms":${receivedMs}}`;
  }
  line.received_ms = receivedMs;
  return JSON.stringify(line);
}

/** The method of a stored line, for its subject (`_` when it has none). */
function methodOf(line: Line): string {
  return typeof line.method === 'string' ? line.method : '_';
}

/**
 * Runs every line of a body through the repo's pipeline. `maxPayload`: a payload over this many
 * bytes (the store's message limit) is dropped as too large instead of failing the whole POST.
 */
export function processBody(text: string, repoName: string, pipeline: RepoPipeline, receivedMs: number, maxPayload = Infinity): BodyResult {
  const out: BodyResult = { stored: [], dropped: [], malformed: [], sampled_out: 0 };
  let index = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let raw = text.slice(start, end);
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    const i = index++;
    start = end + 1;
    if (raw.trim() === '') continue;
    const v = pipeline(raw);
    if (!v.ok) {
      if (v.outcome === 'sampled_out') out.sampled_out++;
      else out[v.outcome].push({ index: i, reason: v.reason, text: raw.slice(0, SAMPLE_CHARS) });
      continue;
    }
    const payload = storedJson(raw, v.line, receivedMs, pipeline.asSent === true);
    if (Buffer.byteLength(payload) > maxPayload) {
      out.dropped.push({ index: i, reason: `line over the store's message limit (${maxPayload} bytes)`, text: raw.slice(0, SAMPLE_CHARS) });
      continue;
    }
    out.stored.push({ index: i, subject: trafficSubject(repoName, methodOf(v.line)), payload, ...(v.trace === undefined ? {} : { trace: v.trace }) });
  }
  return out;
}
