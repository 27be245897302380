/**
 * The console's state and the page's view model. Pure: the server hands it every status, router,
 * stats and ended message with the time it arrived, and asks for a chart point once a second
 * (`tick`) and for the page's JSON (`viewOf`). No clock, no I/O, so the tests drive it with fake
 * messages and a fake clock.
 *
 * Counts come from the reporter's StatsMerger (cumulative per replayer life, histograms added
 * exactly), so the page's numbers are the ones the end report will show.
 */
import { percentilesMs } from '../../shared/histogram.js';
import { JOB_STATES, lifeId, lifeKey, type DiffEndpointStats, type DiffStats, type EndedMsg, type RouterMsg, type StatsMsg, type StatusMsg } from '../../shared/protocol.js';
import { addEndpoints } from '../diff/merge.js';
import { StatsMerger, addInto, sumValues } from '../reporter/merge.js';

/** Chart points kept; past this, neighbours are merged in pairs, so the chart spans the whole job. */
export const MAX_POINTS = 600;
/** Replayer lives that left, kept for the "left" list (newest first). */
const MAX_DEPARTED = 20;
/** Rows of the top routes and errors tables. */
const TOP_N = 10;
/** Chart points the ETA's recent request rate is averaged over (one a second). */
const ETA_WINDOW = 10;

/** Columns of the charts, one entry per point; `t` is epoch ms at the point's end. */
export interface Series {
  t: number[];
  /** Requests per second sent, answered OK, failed, over the point's span. */
  sent: number[];
  ok: number[];
  failed: number[];
  /** Latency from send and lateness (send minus due), ms, over the point's span. */
  p50: number[];
  p99: number[];
  late_p99: number[];
  /** Length of each point's span, ms (grows when points are merged). */
  span: number[];
}

interface Life {
  id: string;
  boot?: string;
  joined_at: number;
  left_at?: number;
}

export interface ConsoleState {
  readonly job: string;
  readonly merger: StatsMerger;
  status?: StatusMsg;
  router?: RouterMsg;
  /** Every replayer life seen in the router's membership, by `lifeKey(id, boot)`. */
  readonly lives: Map<string, Life>;
  readonly series: Series;
  /** Cumulative totals at the last tick, to turn counters into per-second rates. */
  prev: { sent: number; ok: number; failed: number; at: number };
  /** The latest diff counters each life carried in its stats (cumulative per life). */
  readonly diffs: Map<string, DiffStats>;
  ended?: { exit_code: number; at: number };
}

export function newConsoleState(job: string, now: number): ConsoleState {
  return {
    job,
    merger: new StatsMerger(),
    lives: new Map(),
    series: { t: [], sent: [], ok: [], failed: [], p50: [], p99: [], late_p99: [], span: [] },
    prev: { sent: 0, ok: 0, failed: 0, at: now },
    diffs: new Map(),
  };
}

export function onStatus(s: ConsoleState, m: StatusMsg): void {
  s.status = m;
}

export function onStats(s: ConsoleState, m: StatsMsg): void {
  s.merger.add(m);
  if (m.diff) s.diffs.set(lifeKey(m.id, m.boot), m.diff);
}

/** Membership: a life is joined when first listed, left when the router stops listing it. */
export function onRouter(s: ConsoleState, m: RouterMsg, now: number): void {
  s.router = m;
  const members = new Set(m.members);
  for (const key of members) {
    const life = s.lives.get(key);
    if (!life) {
      const info = m.replayers.find((r) => lifeKey(r.id, r.boot) === key);
      s.lives.set(key, { id: info?.id ?? lifeId(key), boot: info?.boot, joined_at: now });
    } else if (life.left_at !== undefined) {
      delete life.left_at;
    }
  }
  for (const [key, life] of s.lives) if (!members.has(key) && life.left_at === undefined) life.left_at = now;
}

export function onEnded(s: ConsoleState, m: EndedMsg, now: number): void {
  s.ended ??= { exit_code: m.exit_code, at: now };
}

/** Closes one chart point: what arrived since the last tick, as rates and percentiles. */
export function tick(s: ConsoleState, now: number): void {
  const span = now - s.prev.at;
  if (span <= 0) return;
  const t = s.merger.totals();
  const interval = s.merger.takeInterval();
  const perS = (d: number): number => round1((Math.max(0, d) * 1000) / span);
  const lat = percentilesMs(interval.latency);
  const series = s.series;
  series.t.push(now);
  series.sent.push(perS(t.sent - s.prev.sent));
  series.ok.push(perS(t.ok - s.prev.ok));
  series.failed.push(perS(t.failed - s.prev.failed));
  series.p50.push(lat.p50);
  series.p99.push(lat.p99);
  series.late_p99.push(percentilesMs(interval.lateness).p99);
  series.span.push(span);
  s.prev = { sent: t.sent, ok: t.ok, failed: t.failed, at: now };
  if (series.t.length > MAX_POINTS) compact(series);
}

/**
 * Halves the series by merging neighbours: rates become the span-weighted mean, percentiles the
 * larger of the two (a merged p99 is not recoverable without the histograms; the larger one
 * never hides a spike). An odd last point stays as it is.
 */
export function compact(series: Series): void {
  const out: Series = { t: [], sent: [], ok: [], failed: [], p50: [], p99: [], late_p99: [], span: [] };
  const n = series.t.length;
  for (let i = 0; i < n; i += 2) {
    if (i + 1 >= n) {
      for (const k of Object.keys(out) as Array<keyof Series>) out[k].push(series[k][i]);
      continue;
    }
    const a = series.span[i];
    const b = series.span[i + 1];
    const mean = (col: number[]): number => round1((col[i] * a + col[i + 1] * b) / (a + b));
    out.t.push(series.t[i + 1]);
    out.span.push(a + b);
    out.sent.push(mean(series.sent));
    out.ok.push(mean(series.ok));
    out.failed.push(mean(series.failed));
    out.p50.push(Math.max(series.p50[i], series.p50[i + 1]));
    out.p99.push(Math.max(series.p99[i], series.p99[i + 1]));
    out.late_p99.push(Math.max(series.late_p99[i], series.late_p99[i + 1]));
  }
  for (const k of Object.keys(out) as Array<keyof Series>) series[k] = out[k];
}

export interface ReplayerRow {
  id: string;
  boot?: string;
  state: 'up';
  rps: number;
  inflight: number;
  capacity: number;
  last_heartbeat_ms: number;
  routed: number;
  joined_at: number;
}

export interface DepartedRow {
  id: string;
  boot?: string;
  joined_at: number;
  left_at: number;
}

export interface Progress {
  /** Requests sent or accounted as dropped. */
  done: number;
  /** Requests the job will make in all; null until every source is read. */
  total: number | null;
  /** 0–1, null while the total is unknown. */
  fraction: number | null;
  /** Seconds left at the recent request rate; null when unknown (no total, or no rate). */
  eta_s: number | null;
}

/** The page's whole model, sent as one server-sent event. */
export interface ConsoleView {
  job: string;
  /** The time wheel's state, `waiting` before its first status. */
  state: string;
  speed: number | null;
  rate: number | null;
  /** Log time of the last released record, epoch ms (0 before the first). */
  position: number;
  /** How far behind live a `follow` job runs, ms; null when the job does not say. */
  behind_live_ms: number | null;
  started_at: number;
  finished_at: number;
  progress: Progress;
  totals: { sent: number; ok: number; failed: number; dropped: number; rps: number };
  series: Series;
  replayers: ReplayerRow[];
  departed: DepartedRow[];
  routes: Array<{ api: string; count: number; failed: number; p50_ms: number; p99_ms: number }>;
  errors: Array<{ error: string; count: number }>;
  /** Numeric fields of the replayers' diff summaries, summed; null when the job does not diff. */
  diff: Record<string, number> | null;
  ended: { exit_code: number; at: number } | null;
}

export function viewOf(s: ConsoleState): ConsoleView {
  const st = s.status;
  const t = s.merger.totals();
  const dropped = sumValues(t.dropped_by_reason) + sumValues(s.router?.dropped_by_reason ?? {});
  const series = s.series;
  return {
    job: s.job,
    state: st?.state ?? 'waiting',
    speed: st?.speed ?? null,
    rate: st?.rate ?? null,
    position: st?.position ?? 0,
    behind_live_ms: behindLive(st),
    started_at: st?.started_at ?? 0,
    finished_at: st?.finished_at ?? 0,
    progress: progressOf(st, t.sent + dropped, series),
    totals: { sent: t.sent, ok: t.ok, failed: t.failed, dropped, rps: series.sent.at(-1) ?? 0 },
    series,
    replayers: replayerRows(s),
    departed: departedRows(s),
    routes: topRoutes(s.merger),
    errors: topErrors(t.by_error, t.by_status),
    diff: diffSummary(s.diffs),
    ended: s.ended ?? null,
  };
}

/**
 * Progress in requests. Once every source is read what is left is known: released copies, those
 * never sent (stopped) and the records still waiting in the time wheel × rate (the reporter's
 * progress line counts the same).
 */
export function progressOf(st: StatusMsg | undefined, done: number, series: Series): Progress {
  const allRead = st !== undefined && st.sources > 0 && st.sources_ended >= st.sources;
  if (!st || !allRead) return { done, total: null, fraction: null, eta_s: null };
  const over = st.state === JOB_STATES.finished || st.state === JOB_STATES.stopped;
  const total = st.copies + st.never_sent + Math.floor((st.pending ?? 0) * st.rate);
  const doneAll = over && st.state === JOB_STATES.stopped ? total : done;
  const fraction = total > 0 ? Math.min(1, doneAll / total) : 1;
  // The recent rate since the clock started (the points before it are the warm-up's zeros).
  const first = series.t.findIndex((t) => t > st.started_at);
  const recent = first < 0 || st.started_at === 0 ? [] : series.sent.slice(Math.max(first, series.t.length - ETA_WINDOW));
  const rps = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
  const left = Math.max(0, total - doneAll);
  const eta_s = left === 0 ? 0 : rps > 0 ? Math.round(left / rps) : null;
  return { done: doneAll, total, fraction, eta_s };
}

/** How far behind live a job following live traffic runs (`[fetcher.jetstream] follow`); null otherwise. */
function behindLive(st: StatusMsg | undefined): number | null {
  return st?.behind_live_ms ?? null;
}

function replayerRows(s: ConsoleState): ReplayerRow[] {
  const rows: ReplayerRow[] = [];
  for (const r of s.router?.replayers ?? []) {
    const life = s.lives.get(lifeKey(r.id, r.boot));
    if (!life || life.left_at !== undefined) continue;
    rows.push({ id: r.id, boot: r.boot, state: 'up', rps: r.rps, inflight: r.inflight, capacity: r.capacity, last_heartbeat_ms: r.last_heartbeat_ms, routed: r.routed, joined_at: life.joined_at });
  }
  return rows.sort((a, b) => a.id.localeCompare(b.id));
}

function departedRows(s: ConsoleState): DepartedRow[] {
  const rows: DepartedRow[] = [];
  for (const l of s.lives.values()) if (l.left_at !== undefined) rows.push({ id: l.id, boot: l.boot, joined_at: l.joined_at, left_at: l.left_at });
  return rows.sort((a, b) => b.left_at - a.left_at).slice(0, MAX_DEPARTED);
}

function topRoutes(merger: StatsMerger): ConsoleView['routes'] {
  return [...merger.byApi.entries()]
    .sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]))
    .slice(0, TOP_N)
    .map(([api, a]) => {
      const p = percentilesMs(a.latency);
      return { api, count: a.count, failed: a.failed, p50_ms: p.p50, p99_ms: p.p99 };
    });
}

/** Transport errors by name, and answers of status 4xx/5xx as `HTTP <status>`. */
function topErrors(byError: Record<string, number>, byStatus: Record<string, number>): ConsoleView['errors'] {
  const all: Record<string, number> = { ...byError };
  for (const [status, n] of Object.entries(byStatus)) if (Number(status) >= 400) all[`HTTP ${status}`] = (all[`HTTP ${status}`] ?? 0) + n;
  return Object.entries(all)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, TOP_N)
    .map(([error, count]) => ({ error, count }));
}

/**
 * The diff at a glance, summed over every life's latest counters: records compared and skipped,
 * endpoints, fields that differ more between primary and candidate than between primary and
 * secondary (before the report's thresholds), and each target's failures. Null without a diff.
 */
export function diffSummary(diffs: Map<string, DiffStats>): Record<string, number> | null {
  if (diffs.size === 0) return null;
  const endpoints: Record<string, DiffEndpointStats> = {};
  const out: Record<string, number> = { 'records compared': 0, 'records skipped': 0 };
  for (const d of diffs.values()) {
    addEndpoints(endpoints, d.endpoints);
    for (const [t, st] of Object.entries(d.targets)) out[`${t} failed`] = (out[`${t} failed`] ?? 0) + st.failed;
  }
  let rawOverNoise = 0;
  for (const e of Object.values(endpoints)) {
    out['records compared']! += e.total;
    for (const n of Object.values(e.skipped)) out['records skipped']! += n;
    for (const kinds of Object.values(e.fields)) for (const c of Object.values(kinds)) if (c.raw > c.noise) rawOverNoise++;
  }
  out.endpoints = Object.keys(endpoints).length;
  out['fields raw > noise'] = rawOverNoise;
  return out;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
