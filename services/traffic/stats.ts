/**
 * `havok traffic stats`: counts of the matching records by repo, route template (the reporter's
 * API names, `/items/:id`), method and status, over the filter's range. The counting is a pure
 * fold (`addToStats`); the scan around it is bounded by the same budget as a query.
 */
import { ApiNamer } from '../../shared/api-name.js';
import { trafficSubjectParts } from '../../shared/protocol.js';
import type { CompiledFilter } from './filter.js';
import { lineMethod, lineStatus, lineUrl, type JsonObject } from './line.js';
import { decodeLine, QUERY_DEFAULTS } from './query.js';
import { scanLines, type TrafficStreamClient } from './scan.js';

export interface TrafficStats {
  total: number;
  by_repo: Record<string, number>;
  by_route: Record<string, number>;
  by_method: Record<string, number>;
  /** Status code as text; `none` for lines without one. */
  by_status: Record<string, number>;
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
}

export async function trafficStats(c: TrafficStreamClient, f: CompiledFilter, opts: { scanBudget?: number; clockSkewMs?: number } = {}): Promise<TrafficStats> {
  const budget = opts.scanBudget ?? QUERY_DEFAULTS.scanBudget;
  const skew = opts.clockSkewMs ?? QUERY_DEFAULTS.clockSkewMs;
  const s = emptyStats();
  const routes = new ApiNamer(MAX_ROUTES);
  const stopAfterMs = f.until === undefined ? Infinity : f.until + skew;
  for await (const stored of scanLines(c, { subject: f.subject, ...(f.since !== undefined ? { startMs: f.since - skew } : {}) }, budget)) {
    if (stored.stored_ms > stopAfterMs) return s;
    s.scanned++;
    const line = decodeLine(stored.data);
    if (!line) {
      s.malformed++;
      continue;
    }
    const repo = trafficSubjectParts(stored.subject)?.repo ?? '';
    if (f.matches(line, repo)) addToStats(s, line, repo, routes);
  }
  s.budget_hit = s.scanned >= budget;
  return s;
}
