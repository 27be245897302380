/**
 * The end report as one self-contained HTML page (issue 7), written beside the JSON. Pure: a
 * string from the EndReport. No scripts, no fonts, no network: CSS is inline and every chart is
 * an inline SVG drawn here, and a Content-Security-Policy forbids anything else, so the page opens
 * the same from a mail attachment, a CI artifact or a machine without internet.
 *
 * Every string that came from the log or the target (job id, API names, statuses, error kinds,
 * replayer ids, parse-error samples) goes through `esc`.
 */
import type { EndReport, TimelinePoint } from './report.js';
import { fmtBytes } from './format.js';
import { MAX_TIMELINE_POINTS } from './timeline.js';

/** `reports/x.json` → `reports/x.html` (any other name gets `.html` appended). */
export function htmlPathFor(jsonPath: string): string {
  return jsonPath.replace(/\.json$/i, '') + '.html';
}

/** Table rows shown per API before the rest are summed up in one line. */
const MAX_API_ROWS = 1000;
/**
 * Timeline points drawn at most. The reporter already writes no more (timeline.ts, with true
 * percentiles per point); a longer timeline, from a report of an older version, is merged here.
 */
const MAX_CHART_POINTS = MAX_TIMELINE_POINTS;

const COLORS = { sent: '#2563eb', failed: '#dc2626', completed: '#16a34a', p50: '#0891b2', p99: '#9333ea', lateness: '#ea580c' };

export function renderHtml(report: EndReport): string {
  const r = report;
  const q = r.requests;
  const closes = r.accounting.records_close && r.accounting.requests_close;
  const tl = prepareTimeline(r.timeline ?? []);
  const title = `havok report: ${r.job}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="havok">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>havok job <span class="job">${esc(r.job)}</span> <span class="state state-${esc(cssWord(r.state))}">${esc(r.state)}</span></h1>
  <p class="meta">
    ${esc(fmtDuration(r.duration_s))} · ${esc(r.started_at)} → ${esc(r.finished_at)} · speed ${esc(fmtNum(r.speed))} · rate ${esc(fmtNum(r.rate))}
  </p>
  <p id="accounting" class="badge ${closes ? 'ok' : 'bad'}">${
    closes
      ? 'accounting closes'
      : `accounting DOES NOT CLOSE${r.accounting.records_close ? '' : ' (records)'}${r.accounting.requests_close ? '' : ` (requests: unaccounted ${esc(fmtInt(q.unaccounted))})`}`
  }</p>
</header>
<main>
<section class="cards" id="summary">
  ${card('sent', fmtInt(q.sent), `expected ${fmtInt(q.expected)}`)}
  ${card('ok', fmtInt(q.ok), pct(q.ok, q.sent) + ' of sent', 'ok')}
  ${card('failed', fmtInt(q.failed), pct(q.failed, q.sent) + ' of sent', q.failed > 0 ? 'bad' : '')}
  ${card('dropped', fmtInt(q.dropped), reasons(q.dropped_by_reason), q.dropped > 0 ? 'warn' : '')}
  ${card('throughput', `${fmtNum(r.throughput_rps)} req/s`, `${fmtBytes(r.bytes_sent)} sent, ${fmtBytes(r.bytes_received)} received`)}
  ${card('latency p50 / p90', `${fmtMs(r.latency_ms.p50)} / ${fmtMs(r.latency_ms.p90)}`, `mean ${fmtMs(r.latency_ms.mean)}`)}
  ${card('latency p99 / max', `${fmtMs(r.latency_ms.p99)} / ${fmtMs(r.latency_ms.max)}`, `from due: p99 ${fmtMs(r.latency_from_due_ms.p99)}`)}
  ${card('lateness p50 / p99 / max', `${fmtMs(r.lateness_ms.p50)} / ${fmtMs(r.lateness_ms.p99)} / ${fmtMs(r.lateness_ms.max)}`, 'actual send − due time')}
</section>
<section class="records">
  <h2>Records</h2>
  <p>read <b>${fmtInt(r.records.read)}</b> = parse errors <b>${fmtInt(r.records.parse_errors)}</b> + filtered <b>${fmtInt(r.records.filtered)}</b> + dispatched <b>${fmtInt(r.records.dispatched)}</b>
  <span class="badge small ${r.accounting.records_close ? 'ok' : 'bad'}">${r.accounting.records_close ? 'closes' : 'does not close'}</span></p>
  <p>expected <b>${fmtInt(q.expected)}</b> = sent <b>${fmtInt(q.sent)}</b> + dropped <b>${fmtInt(q.dropped)}</b>${q.unaccounted !== 0 ? ` + unaccounted <b>${fmtInt(q.unaccounted)}</b>` : ''}
  <span class="badge small ${r.accounting.requests_close ? 'ok' : 'bad'}">${r.accounting.requests_close ? 'closes' : 'does not close'}</span>
  ${q.duplicates ? ` · duplicates ${fmtInt(q.duplicates)}` : ''}${q.unfinished ? ` · unfinished ${fmtInt(q.unfinished)}` : ''}</p>
</section>
<section class="charts">
  <figure>
    <figcaption>Requests per second</figcaption>
    ${lineChart({
      id: 'chart-rps',
      xs: tl.xs,
      series: [
        { name: 'sent/s', color: COLORS.sent, values: tl.sentRps, fill: true },
        { name: 'completed/s', color: COLORS.completed, values: tl.completedRps, dash: true },
        { name: 'failed/s', color: COLORS.failed, values: tl.failedRps },
      ],
      fmtY: fmtNum,
    })}
  </figure>
  <figure>
    <figcaption>Latency over time (ms)</figcaption>
    ${lineChart({
      id: 'chart-latency',
      xs: tl.xs,
      series: [
        { name: 'p50', color: COLORS.p50, values: tl.p50 },
        { name: 'p99', color: COLORS.p99, values: tl.p99 },
        { name: 'lateness p99', color: COLORS.lateness, values: tl.lateness, dash: true },
      ],
      fmtY: fmtNum,
    })}
  </figure>
  <figure>
    <figcaption>Latency distribution (whole job)</figcaption>
    ${percentileChart(r)}
  </figure>
  <figure>
    <figcaption>Responses by status · errors by kind</figcaption>
    ${barList('chart-status', Object.entries(r.by_status), statusColor, 'no responses')}
    ${barList('chart-errors', Object.entries(r.by_error), () => COLORS.failed, 'no errors')}
  </figure>
</section>
<section>
  <h2>Per API <span class="count">${fmtInt(r.by_api.length)}</span></h2>
  ${apiTable(r)}
</section>
<section class="two">
  <div>
    <h2>Replayers <span class="count">${fmtInt(r.replayers.length)}</span></h2>
    ${replayerTable(r)}
  </div>
  <div>
    <h2>Dropped by reason</h2>
    ${kvTable('dropped-table', 'reason', Object.entries(q.dropped_by_reason), 'nothing dropped')}
    ${influxBlock(r)}
  </div>
</section>
<section>
  <h2>Parse error samples <span class="count">${fmtInt(r.records.parse_errors)} parse errors</span></h2>
  ${samples(r)}
</section>
</main>
<footer>havok end report · the same figures are in the JSON report beside this file</footer>
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------
// Escaping and formatting

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes text for element content and quoted attribute values (NUL, invalid in HTML, becomes U+FFFD). */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"'\u0000]/g, (c) => ESC[c] ?? '\uFFFD');
}

/** Escaped, with control characters shown as visible `\xNN` (for raw log lines). */
function escRaw(s: string): string {
  return String(s)
    .split(/([\u0000-\u0008\u000b-\u001f\u007f])/)
    .map((part, i) => (i % 2 ? `<span class="ctl">\\x${part.charCodeAt(0).toString(16).padStart(2, '0')}</span>` : esc(part)))
    .join('');
}

/** A safe class-name fragment (state names come over the bus). */
function cssWord(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

function num(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

function fmtInt(v: number): string {
  const n = Math.round(num(v));
  return (n < 0 ? '-' : '') + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function fmtNum(v: number): string {
  const n = num(v);
  const a = Math.abs(n);
  if (a >= 1000) return fmtInt(n);
  if (a >= 100 || Number.isInteger(n)) return String(Math.round(n * 10) / 10);
  if (a >= 10) return n.toFixed(1);
  return String(Math.round(n * 100) / 100);
}

function fmtMs(v: number): string {
  const n = num(v);
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  if (n >= 1000) return `${(n / 1000).toFixed(2)} s`;
  if (n >= 100) return `${n.toFixed(0)} ms`;
  if (n >= 10) return `${n.toFixed(1)} ms`;
  return `${n.toFixed(2)} ms`;
}

function fmtDuration(s: number): string {
  const n = num(s);
  if (n < 60) return `${n.toFixed(1)} s`;
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const sec = Math.round(n % 60);
  return h > 0 ? `${h} h ${m} min ${sec} s` : `${m} min ${sec} s`;
}

/** Elapsed seconds as an axis label: 45s, 2:30, 1:05:00. */
function fmtClock(s: number): string {
  const n = Math.round(s);
  if (n < 60) return `${n}s`;
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const sec = String(n % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function pct(part: number, whole: number): string {
  if (!whole) return '0%';
  const p = (num(part) / num(whole)) * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(p >= 1 ? 1 : 2)}%`;
}

function reasons(r: Record<string, number>): string {
  const e = Object.entries(r);
  return e.length ? e.map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ') : 'none';
}

// ---------------------------------------------------------------------------------------------
// Blocks

function card(label: string, value: string, sub: string, tone = ''): string {
  return `<div class="card ${tone}"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div><div class="sub">${esc(sub)}</div></div>`;
}

function apiTable(r: EndReport): string {
  if (r.by_api.length === 0) return '<p class="empty">no requests answered</p>';
  const apis = [...r.by_api].sort((a, b) => b.count - a.count || String(a.api).localeCompare(String(b.api)));
  const total = apis.reduce((s, a) => s + num(a.count), 0);
  const top = num(apis[0]!.count) || 1;
  const shown = apis.slice(0, MAX_API_ROWS);
  const rows = shown.map((a) => {
    const l = a.latency_ms;
    const w = ((num(a.count) / top) * 100).toFixed(1);
    return `<tr><td class="api" title="${esc(a.api)}">${esc(a.api)}</td><td class="n bar" style="--w:${w}%">${fmtInt(a.count)}</td><td class="n">${pct(a.count, total)}</td><td class="n${a.failed > 0 ? ' bad' : ''}">${fmtInt(a.failed)}</td><td class="n">${fmtMs(l.p50)}</td><td class="n">${fmtMs(l.p90)}</td><td class="n">${fmtMs(l.p99)}</td><td class="n">${fmtMs(l.max)}</td></tr>`;
  });
  const rest = apis.length - shown.length;
  const more = rest > 0 ? `<p class="empty">${fmtInt(rest)} more APIs with ${fmtInt(apis.slice(MAX_API_ROWS).reduce((s, a) => s + num(a.count), 0))} requests are in the JSON report</p>` : '';
  return `<table id="api-table"><thead><tr><th>API</th><th class="n">count</th><th class="n">share</th><th class="n">failed</th><th class="n">p50</th><th class="n">p90</th><th class="n">p99</th><th class="n">max</th></tr></thead><tbody>${rows.join('')}</tbody></table>${more}`;
}

function replayerTable(r: EndReport): string {
  if (r.replayers.length === 0) return '<p class="empty">no replayers</p>';
  // A replayer restarted under the same id is one row, its lives summed; show how many it had.
  const restarted = r.replayers.some((p) => num(p.lives) > 1);
  const rows = r.replayers.map(
    (p) => `<tr><td>${esc(p.id)}</td>${restarted ? `<td class="n">${fmtInt(p.lives ?? 1)}</td>` : ''}<td class="n">${fmtInt(p.routed)}</td><td class="n">${fmtInt(p.received)}</td><td class="n">${fmtInt(p.sent)}</td><td class="n${p.dropped > 0 ? ' warn' : ''}">${fmtInt(p.dropped)}</td></tr>`,
  );
  return `<table id="replayer-table"><thead><tr><th>replayer</th>${restarted ? '<th class="n">lives</th>' : ''}<th class="n">routed</th><th class="n">received</th><th class="n">sent</th><th class="n">dropped</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function kvTable(id: string, key: string, entries: Array<[string, number]>, empty: string): string {
  if (entries.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  const rows = [...entries].sort((a, b) => b[1] - a[1]).map(([k, v]) => `<tr><td>${esc(k)}</td><td class="n">${fmtInt(v)}</td></tr>`);
  return `<table id="${id}"><thead><tr><th>${esc(key)}</th><th class="n">count</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function influxBlock(r: EndReport): string {
  const i = r.influxdb;
  if (!i) return '';
  return `<h2>InfluxDB</h2><p>points written <b>${fmtInt(i.points_written)}</b> · write errors <b>${fmtInt(i.write_errors)}</b> · points dropped <b>${fmtInt(i.points_dropped)}</b>${
    i.last_error ? `<br><span class="bad">last error: ${esc(i.last_error)}</span>` : ''
  }</p>`;
}

function samples(r: EndReport): string {
  if (r.parse_error_samples.length === 0) return '<p class="empty">no parse errors</p>';
  const rows = r.parse_error_samples.map(
    (s) => `<tr><td class="n">${fmtInt(s.line)}</td><td>${esc(s.reason)}</td><td><code>${escRaw(s.text)}</code></td></tr>`,
  );
  return `<table id="samples-table"><thead><tr><th class="n">line</th><th>reason</th><th>text</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

// ---------------------------------------------------------------------------------------------
// Timeline → chart series

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

function lineChart(o: { id: string; xs: number[]; series: Series[]; fmtY: (v: number) => string }): string {
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

function lastPoint(d: string): string {
  const m = /[ML]([\d.-]+),([\d.-]+)$/.exec(d);
  return m ? `${m[1]},${m[2]}` : '0,0';
}

function percentileChart(r: EndReport): string {
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

function statusColor(code: string): string {
  const c = code.charAt(0);
  return c === '2' ? '#16a34a' : c === '3' ? '#2563eb' : c === '4' ? '#ea580c' : c === '5' ? '#dc2626' : '#64748b';
}

/** Horizontal bars, one per key, largest first. */
function barList(id: string, entries: Array<[string, number]>, color: (k: string) => string, empty: string): string {
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

const CSS = `
:root{--fg:#0f172a;--mut:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;--ok:#16a34a;--bad:#dc2626;--warn:#ea580c}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:20px 28px 12px;background:#0f172a;color:#f8fafc}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header .job{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
header .meta{margin:0 0 10px;color:#cbd5e1}
.state{font-size:13px;padding:2px 8px;border-radius:10px;background:#334155;vertical-align:middle}
.state-finished{background:#166534}.state-stopped{background:#9a3412}
.badge{display:inline-block;margin:0;padding:3px 10px;border-radius:12px;font-weight:600;font-size:13px}
.badge.ok{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}
.badge.small{font-size:11px;padding:1px 7px;margin-left:6px}
main{padding:16px 28px 8px;max-width:1400px}
h2{font-size:16px;margin:18px 0 8px}
h2 .count{font-weight:400;color:var(--mut);font-size:13px;margin-left:4px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid #94a3b8;border-radius:6px;padding:10px 12px}
.card.ok{border-left-color:var(--ok)}.card.bad{border-left-color:var(--bad)}.card.warn{border-left-color:var(--warn)}
.card .label{color:var(--mut);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:21px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.card .sub{color:var(--mut);font-size:12px}
.records p{margin:4px 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(520px,100%),1fr));gap:14px;margin-top:16px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 12px}
figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto;display:block}
svg.hbar-chart{margin-bottom:6px}
svg text{font:11px system-ui,sans-serif;fill:#475569}
svg text.legend{font-size:12px;fill:#0f172a}
svg text.val{fill:#0f172a;font-weight:600}
svg text.hlabel{font-family:ui-monospace,Menlo,Consolas,monospace;fill:#0f172a}
svg text.empty{font-size:14px;fill:#94a3b8}
svg .grid{stroke:#eef2f7;stroke-width:1}
svg .axis,svg .xtick{stroke:#94a3b8;stroke-width:1}
svg .frame{fill:none;stroke:var(--line)}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600;font-size:12px;color:#334155;position:sticky;top:0}
td.n,th.n{text-align:right;white-space:nowrap}
td.api{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all;max-width:520px}
td.bar{background:linear-gradient(to right,#dbeafe var(--w),transparent var(--w))}
td.bad,.bad{color:var(--bad);font-weight:600}td.warn{color:var(--warn);font-weight:600}
tbody tr:hover{background:#f8fafc}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:pre-wrap;word-break:break-all}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(420px,100%),1fr));gap:20px}
.empty{color:var(--mut);font-style:italic}
.ctl{color:var(--warn);background:#fff7ed}
footer{padding:14px 28px 24px;color:var(--mut);font-size:12px}
`;
