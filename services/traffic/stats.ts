/**
 * `havok traffic stats` (and the selection part of `havok plan`): counts of the matching records
 * by repo, route template (the reporter's API names, `/items/:id`), method and status, and their
 * time range, over the filter's range. The counting is a pure fold (`addToStats`); the scan
 * around it is bounded by the same budget as a query.
 */
import { ApiNamer } from '../../shared/api-name.js';
import type { CompiledFilter } from './filter.js';
import { lineMethod, lineStatus, lineTime, lineUrl, type JsonObject } from './line.js';
import { matchStored, QUERY_DEFAULTS } from './query.js';
import { eachLine, scanEach, type TrafficStreamClient } from './scan.js';

export interface TrafficStats {
  total: number;
  by_repo: Record<string, number>;
  by_route: Record<string, number>;
  by_method: Record<string, number>;
  /** Status code as text; `none` for lines without one. */
  by_status: Record<string, number>;
  /** Earliest and latest line time (received_ms, else ts) of the matches, epoch ms; absent: none has one. */
  first_ms?: number;
  last_ms?: number;
  scanned: number;
  malformed: number;
  /** The scan budget ended the scan before the range did: the counts cover part of it. */
  budget_hit: boolean;
}

/** Distinct route templates kept; later new ones count as `other` (as in the report). */
const MAX_ROUTES = 1000;

export function emptyStats(): TrafficStats {
  return { total: 0, by_repo: {}, by_route: {}, by_method: {}, by_status: {}, scanned: 0, malformed: 0, budget_hit: false };
}

const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

/** Adds one matching line to the counts. */
export function addToStats(s: TrafficStats, line: JsonObject, repo: string, routes: ApiNamer): void {
  s.total++;
  bump(s.by_repo, repo);
  bump(s.by_route, routes.name(lineUrl(line)));
  bump(s.by_method, lineMethod(line) || '_');
  bump(s.by_status, String(lineStatus(line) ?? 'none'));
  const t = lineTime(line);
  if (t !== undefined) {
    if (s.first_ms === undefined || t < s.first_ms) s.first_ms = t;
    if (s.last_ms === undefined || t > s.last_ms) s.last_ms = t;
  }
}

export interface StatsOptions {
  scanBudget?: number;
  clockSkewMs?: number;
}

export async function trafficStats(c: TrafficStreamClient, f: CompiledFilter, opts: StatsOptions = {}): Promise<TrafficStats> {
  const budget = opts.scanBudget ?? QUERY_DEFAULTS.scanBudget;
  const skew = opts.clockSkewMs ?? QUERY_DEFAULTS.clockSkewMs;
  const s = emptyStats();
  const routes = new ApiNamer(MAX_ROUTES);
  const stopAfterMs = f.until === undefined ? Infinity : f.until + skew;
  await scanEach(c, { subject: f.subject, ...(f.since !== undefined ? { startMs: f.since - skew } : {}) }, budget, (msg) => {
    if (msg.stored_ms > stopAfterMs) return false;
    return eachLine(msg, 0, (stored) => {
      if (s.scanned >= budget) return false;
      s.scanned++;
      const m = matchStored(f, stored);
      if (m === 'malformed') s.malformed++;
      else if (m) addToStats(s, m.line, m.repo, routes);
    });
  });
  s.budget_hit = s.scanned >= budget;
  return s;
}

/** Counts as text: total, time range, then each dimension, largest first (`top`: rows per dimension). */
export function formatStats(s: TrafficStats, top = Infinity): string {
  const table = (title: string, m: Record<string, number>): string[] => {
    const rows = Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const shown = rows.slice(0, top).map(([k, n]) => `  ${String(n).padStart(10)}  ${k}`);
    return [title, ...shown, ...(rows.length > top ? [`  ${''.padStart(10)}  … ${rows.length - top} more`] : [])];
  };
  const iso = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString());
  return [
    `total ${s.total} (scanned ${s.scanned}${s.budget_hit ? ', scan budget reached: the counts cover part of the range' : ''})`,
    `time ${iso(s.first_ms)} … ${iso(s.last_ms)}`,
    ...table('by repo', s.by_repo),
    ...table('by method', s.by_method),
    ...table('by status', s.by_status),
    ...table('by route', s.by_route),
  ].join('\n');
}
