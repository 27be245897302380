/**
 * The HTML report's charts, as inline SVG (no script, no library: the page must open from a mail
 * attachment with a CSP that forbids everything else): the timeline prepared for drawing, line
 * charts over time, the percentile chart and horizontal bar lists. Pure.
 */
import type { EndReport, TimelinePoint } from './report.js';
import { MAX_TIMELINE_POINTS } from './timeline.js';
import { cssWord, esc, fmtClock, fmtInt, fmtMs, fmtNum, num, pct } from './html-format.js';

export const COLORS = { sent: '#2563eb', failed: '#dc2626', completed: '#16a34a', p50: '#0891b2', p99: '#9333ea', lateness: '#ea580c' };

/**
 * Timeline points drawn at most. The reporter already writes no more (timeline.ts, with true
 * percentiles per point); a longer timeline, from a report of an older version, is merged here.
 */
const MAX_CHART_POINTS = MAX_TIMELINE_POINTS;

interface PreparedTimeline {
  /** Seconds since the first interval. */
  xs: number[];
  sentRps: Array<number | null>;
  completedRps: Array<number | null>;
  failedRps: Array<number | null>;
  /** null where nothing completed in the interval (no latency to show, not a latency of 0). */
  p50: Array<number | null>;
  p99: Array<number | null>;
  lateness: Array<number | null>;
}

/**
 * Per-interval counts as rates over each interval's real length (the gap to the previous point;
 * the last one, written with the report, is usually short); the first point, which has no
 * predecessor, counts as a typical interval. More than MAX_CHART_POINTS (only in a report of an
 * older version, which kept every interval) are merged into buckets, whose latency can then only
 * be approximated from the points' own percentiles: mean p50 weighted by answers, largest p99.
 */
export function prepareTimeline(points: TimelinePoint[]): PreparedTimeline {
  const pts = points.filter((p) => Number.isFinite(p.t)).sort((a, b) => a.t - b.t);
  const gaps: number[] = [];
  for (let i = 1; i < pts.length; i++) gaps.push(pts[i]!.t - pts[i - 1]!.t);
  gaps.sort((a, b) => a - b);
  const intervalMs = Math.max(1, gaps.length ? gaps[Math.floor(gaps.length / 2)]! : 1000);
  // A tiny final interval would turn a handful of requests into a spike: floor at 1/10 interval.
  const durMs = pts.map((p, i) => (i === 0 ? intervalMs : Math.max(p.t - pts[i - 1]!.t, intervalMs / 10)));
  const group = Math.max(1, Math.ceil(pts.length / MAX_CHART_POINTS));
  const out: PreparedTimeline = { xs: [], sentRps: [], completedRps: [], failedRps: [], p50: [], p99: [], lateness: [] };
  const t0 = pts.length ? pts[0]!.t : 0;
  for (let i = 0; i < pts.length; i += group) {
    const b = pts.slice(i, i + group);
    const last = b[b.length - 1]!;
    const secs = durMs.slice(i, i + group).reduce((s, d) => s + d, 0) / 1000;
    const sent = b.reduce((s, p) => s + num(p.sent), 0);
    const completed = b.reduce((s, p) => s + num(p.completed), 0);
    const failed = b.reduce((s, p) => s + num(p.failed), 0);
    const answered = b.filter((p) => num(p.completed) > 0);
    out.xs.push((last.t - t0) / 1000);
    out.sentRps.push(sent / secs);
    out.completedRps.push(completed / secs);
    out.failedRps.push(failed / secs);
    if (answered.length === 0) {
      out.p50.push(null);
      out.p99.push(null);
    } else {
      out.p50.push(answered.reduce((s, p) => s + num(p.p50_ms) * num(p.completed), 0) / completed);
      out.p99.push(Math.max(...answered.map((p) => num(p.p99_ms))));
    }
    const late = b.filter((p) => num(p.sent) > 0);
    out.lateness.push(late.length ? Math.max(...late.map((p) => num(p.lateness_p99_ms))) : null);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SVG charts

const W = 640;
const H = 280;
const M = { l: 58, r: 16, t: 30, b: 34 };

interface Series {
  name: string;
  color: string;
  values: Array<number | null>;
  fill?: boolean;
  dash?: boolean;
}

/** 1, 2, 2.5, 5 × 10^k at or above `x`. */
function niceStep(x: number): number {
  if (!(x > 0)) return 1;
  const e = Math.pow(10, Math.floor(Math.log10(x)));
  const f = x / e;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * e;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

function yAxis(max: number, fmtY: (v: number) => string): { top: number; ticks: string } {
  const step = niceStep(max / 5);
  const top = max > 0 ? Math.ceil(max / step - 1e-9) * step : 1;
  const tickStep = max > 0 ? step : 0.2;
  const ph = H - M.t - M.b;
  let ticks = '';
  for (let v = 0; v <= top + 1e-9; v += tickStep) {
    const y = M.t + ph - (v / top) * ph;
    ticks += `<line class="grid" x1="${M.l}" x2="${W - M.r}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}"/><text class="tick" x="${M.l - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${esc(fmtY(v))}</text>`;
  }
  return { top, ticks };
}

export function lineChart(o: { id: string; xs: number[]; series: Series[]; fmtY: (v: number) => string }): string {
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const open = `<svg id="${o.id}" class="chart line-chart" viewBox="0 0 ${W} ${H}" role="img" xmlns="http://www.w3.org/2000/svg">`;
  if (o.xs.length === 0) {
    return `${open}<rect class="frame" x="${M.l}" y="${M.t}" width="${pw}" height="${ph}"/><text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">no timeline in this report</text></svg>`;
  }
  const x1 = Math.max(o.xs[o.xs.length - 1]!, 1);
  let max = 0;
  for (const s of o.series) for (const v of s.values) if (v !== null && Number.isFinite(v)) max = Math.max(max, v);
  const { top, ticks } = yAxis(max, o.fmtY);
  const X = (x: number): number => M.l + (x / x1) * pw;
  const Y = (v: number): number => M.t + ph - (Math.min(v, top) / top) * ph;
  // x ticks: elapsed time, about 6 of them
  const tStep = TIME_STEPS.find((s) => x1 / s <= 7) ?? Math.ceil(x1 / 6 / 86400) * 86400;
  let xt = '';
  for (let t = 0; t <= x1 + 1e-9; t += tStep) {
    const x = X(t).toFixed(1);
    xt += `<line class="xtick" x1="${x}" x2="${x}" y1="${M.t + ph}" y2="${M.t + ph + 4}"/><text class="tick" x="${x}" y="${M.t + ph + 17}" text-anchor="middle">${esc(fmtClock(t))}</text>`;
  }
  let paths = '';
  for (const s of o.series) {
    let d = '';
    let run = 0;
    const dots: string[] = [];
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        if (run === 1) dots.push(lastPoint(d));
        run = 0;
        return;
      }
      d += `${run === 0 ? 'M' : 'L'}${X(o.xs[i]!).toFixed(1)},${Y(v).toFixed(1)}`;
      run++;
    });
    if (run === 1) dots.push(lastPoint(d));
    if (d === '') continue;
    const cls = `series series-${cssWord(s.name)}`;
    if (s.fill && !s.values.includes(null)) {
      const area = `${d}L${X(o.xs[o.xs.length - 1]!).toFixed(1)},${M.t + ph}L${X(o.xs[0]!).toFixed(1)},${M.t + ph}Z`;
      paths += `<path class="area" d="${area}" fill="${s.color}" fill-opacity="0.12" stroke="none"/>`;
    }
    paths += `<path class="${cls}" d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8" stroke-linejoin="round"${s.dash ? ' stroke-dasharray="5 3"' : ''}><title>${esc(s.name)}</title></path>`;
    for (const p of dots) {
      const [cx, cy] = p.split(',');
      paths += `<circle class="${cls}" cx="${cx}" cy="${cy}" r="2.5" fill="${s.color}"/>`;
    }
  }
  let legend = '';
  let lx = M.l;
  for (const s of o.series) {
    legend += `<line x1="${lx}" x2="${lx + 16}" y1="14" y2="14" stroke="${s.color}" stroke-width="3"${s.dash ? ' stroke-dasharray="5 3"' : ''}/><text class="legend" x="${lx + 21}" y="18">${esc(s.name)}</text>`;
    lx += 30 + s.name.length * 7;
  }
  return `${open}${ticks}${xt}<line class="axis" x1="${M.l}" x2="${W - M.r}" y1="${M.t + ph}" y2="${M.t + ph}"/>${paths}${legend}</svg>`;
}

export function lastPoint(d: string): string {
  const m = /[ML]([\d.-]+),([\d.-]+)$/.exec(d);
  return m ? `${m[1]},${m[2]}` : '0,0';
}

export function percentileChart(r: EndReport): string {
  const l = r.latency_ms;
  const bars: Array<[string, number]> = [
    ['p50', l.p50],
    ['p90', l.p90],
    ['p95', l.p95],
    ['p99', l.p99],
    ['p99.9', l.p999],
    ['max', l.max],
  ];
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const { top, ticks } = yAxis(Math.max(...bars.map(([, v]) => num(v))), fmtNum);
  const slot = pw / bars.length;
  const bw = slot * 0.6;
  let g = '';
  bars.forEach(([name, v], i) => {
    const h = (Math.min(num(v), top) / top) * ph;
    const x = M.l + i * slot + (slot - bw) / 2;
    const y = M.t + ph - h;
    const shade = 0.45 + (0.55 * i) / (bars.length - 1);
    g += `<rect class="bar" data-p="${name}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(h, 0.5).toFixed(1)}" fill="${COLORS.p99}" fill-opacity="${shade.toFixed(2)}"><title>${name}: ${esc(fmtMs(v))}</title></rect>`;
    g += `<text class="val" x="${(x + bw / 2).toFixed(1)}" y="${(y - 5).toFixed(1)}" text-anchor="middle">${esc(fmtMs(v))}</text>`;
    g += `<text class="tick" x="${(x + bw / 2).toFixed(1)}" y="${M.t + ph + 17}" text-anchor="middle">${name}</text>`;
  });
  const legend = `<text class="legend" x="${M.l}" y="18">latency from the actual send, ms · ${esc(fmtInt(l.count))} responses · mean ${esc(fmtMs(l.mean))}</text>`;
  return `<svg id="chart-percentiles" class="chart bar-chart" viewBox="0 0 ${W} ${H}" role="img" xmlns="http://www.w3.org/2000/svg">${ticks}<line class="axis" x1="${M.l}" x2="${W - M.r}" y1="${M.t + ph}" y2="${M.t + ph}"/>${g}${legend}</svg>`;
}

export function statusColor(code: string): string {
  const c = code.charAt(0);
  return c === '2' ? '#16a34a' : c === '3' ? '#2563eb' : c === '4' ? '#ea580c' : c === '5' ? '#dc2626' : '#64748b';
}

/** Horizontal bars, one per key, largest first. */
export function barList(id: string, entries: Array<[string, number]>, color: (k: string) => string, empty: string): string {
  const rowH = 24;
  const sorted = [...entries].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const total = sorted.reduce((s, [, v]) => s + num(v), 0);
  const h = Math.max(1, sorted.length) * rowH + 8;
  if (sorted.length === 0) {
    return `<svg id="${id}" class="chart hbar-chart" viewBox="0 0 ${W} ${h}" xmlns="http://www.w3.org/2000/svg"><text class="empty" x="8" y="20">${esc(empty)}</text></svg>`;
  }
  const lw = 130;
  const vw = 130;
  const bwMax = W - lw - vw - 16;
  const top = Math.max(1, num(sorted[0]![1]));
  let g = '';
  sorted.forEach(([k, v], i) => {
    const y = 4 + i * rowH;
    const w = Math.max(1, (num(v) / top) * bwMax);
    const label = k.length > 18 ? k.slice(0, 17) + '…' : k;
    g += `<text class="hlabel" x="${lw - 8}" y="${y + 16}" text-anchor="end"><title>${esc(k)}</title>${esc(label)}</text>`;
    g += `<rect class="bar" x="${lw}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" rx="2" fill="${color(k)}"><title>${esc(k)}: ${fmtInt(v)}</title></rect>`;
    g += `<text class="val" x="${(lw + w + 6).toFixed(1)}" y="${y + 16}">${fmtInt(v)} (${pct(v, total)})</text>`;
  });
  return `<svg id="${id}" class="chart hbar-chart" viewBox="0 0 ${W} ${h}" xmlns="http://www.w3.org/2000/svg">${g}</svg>`;
}
