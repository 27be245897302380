/**
 * The end report as one self-contained HTML page (issue 7), written beside the JSON. Pure: a
 * string from the EndReport. No scripts, no fonts, no network: CSS is inline and every chart is
 * an inline SVG drawn here, and a Content-Security-Policy forbids anything else, so the page opens
 * the same from a mail attachment, a CI artifact or a machine without internet.
 *
 * Every string that came from the log or the target (job id, API names, statuses, error kinds,
 * replayer ids, parse-error samples) goes through `esc`.
 */
import type { EndReport } from './report.js';
import { fmtBytes } from './format.js';
import { samplesBlock, topBlock } from './html-findings.js';
import { barList, COLORS, lineChart, percentileChart, prepareTimeline, statusColor } from './html-charts.js';
import { diffSection } from '../diff/html.js';
import { cssWord, esc, escRaw, fmtDuration, fmtInt, fmtMs, fmtNum, num, pct, reasons } from './html-format.js';

export { esc, prepareTimeline };

/** `reports/x.json` → `reports/x.html` (any other name gets `.html` appended). */
export function htmlPathFor(jsonPath: string): string {
  return jsonPath.replace(/\.json$/i, '') + '.html';
}

/** Table rows shown per API before the rest are summed up in one line. */
const MAX_API_ROWS = 1000;


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
  ${q.duplicates ? ` · duplicates ${fmtInt(q.duplicates)}` : ''}${q.rerouted ? ` · rerouted ${fmtInt(q.rerouted)}` : ''}${q.unfinished ? ` · unfinished ${fmtInt(q.unfinished)}` : ''}</p>
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
${diffSection(r.diff)}
<section>
  <h2>Per API <span class="count">${fmtInt(r.by_api.length)}</span></h2>
  ${apiTable(r)}
</section>
${topBlock(r.top)}
${samplesBlock(r.samples)}
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
