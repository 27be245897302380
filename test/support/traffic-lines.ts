/**
 * Deterministic recorded-traffic lines for the traffic store's tests and bench: several repos,
 * methods, paths (with ids), statuses, and trace ids (in `trace_id`, `traceId` or a W3C
 * `traceparent`), with a seeded generator so a run is reproducible.
 */
import type { TrafficLine } from './traffic.js';
import { prng } from './zipf.js';

export const TRAFFIC_REPOS = ['shop', 'auth', 'search', 'media'] as const;
const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE'] as const;
const STATUSES = [200, 200, 200, 201, 204, 301, 404, 500, 503] as const;


/** The trace id of trace number `k`: 32 hex digits, as W3C. */
export const traceOf = (k: number): string => k.toString(16).padStart(32, '0');

/**
 * `n` lines; roughly one in `traceEvery` shares one of `traces` trace ids. `ts` is log time,
 * 1 ms apart from `t0`; `received_ms` is left to the publisher (the gateway's receive time).
 */
export function trafficLines(n: number, opts: { seed?: number; traces?: number; t0?: number } = {}): TrafficLine[] {
  const r = prng(opts.seed ?? 1);
  const traces = opts.traces ?? Math.max(1, Math.floor(n / 20));
  const t0 = opts.t0 ?? Date.UTC(2026, 0, 1);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const out: TrafficLine[] = [];
  for (let i = 0; i < n; i++) {
    const id = Math.floor(r() * 100_000);
    const url = pick([`/api/orders/${id}`, '/api/orders', `/api/orders${id % 7}?page=2`, `/items/${id}`, `/api/users/${id}/cart`, '/health']);
    const line: Record<string, unknown> = { ts: t0 + i, method: pick(METHODS), url, status: pick(STATUSES), headers: { host: pick(['a.example', 'b.example']) }, user: `u${id % 50}` };
    const t = Math.floor(r() * traces);
    const how = r();
    if (how < 0.4) line.trace_id = traceOf(t);
    else if (how < 0.6) line.traceId = traceOf(t);
    else if (how < 0.8) line.traceparent = `00-${traceOf(t)}-00f067aa0ba902b7-01`;
    out.push({ repo: pick(TRAFFIC_REPOS), line });
  }
  return out;
}
