/**
 * The console page's markup and style. Everything it loads comes from the console itself
 * (app.js, uPlot): it works with no network access. The job id is the only value put in the
 * markup, escaped; every live value is set through textContent by app.js.
 */
import { esc } from '../../reporter/html-format.js';

const CSS = `
:root { font: 14px/1.4 system-ui, sans-serif; color: #1d232b; background: #f5f6f8; }
body { margin: 0 auto; max-width: 1200px; padding: 16px; }
h1 { font-size: 20px; margin: 0 0 8px; } h2 { font-size: 15px; margin: 0 0 8px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px; margin-bottom: 12px; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
.facts div span { display: block; color: #5b6672; font-size: 12px; }
.facts div b { font-size: 16px; }
#state { text-transform: uppercase; }
.bar { height: 14px; background: #e4e7eb; border-radius: 7px; overflow: hidden; margin: 10px 0 4px; }
#bar { height: 100%; width: 0; background: #2f7de1; transition: width .5s; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 12px; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eef0f3; }
th { color: #5b6672; font-weight: 600; font-size: 12px; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.controls input { width: 70px; } button { padding: 4px 12px; }
#reply { font-family: ui-monospace, monospace; white-space: pre-wrap; margin-top: 8px; color: #39424c; }
#reply.error { color: #b3261e; }
.hidden { display: none; }
.muted { color: #5b6672; }
`;

export function pageHtml(job: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>havok console: ${esc(job)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/vendor/uplot.css"><style>${CSS}</style></head>
<body>
<h1>havok job <code>${esc(job)}</code> <span id="conn" class="muted">connecting…</span></h1>
<section><div class="facts">
 <div><span>state</span><b id="state">-</b></div>
 <div><span>speed</span><b id="speed">-</b></div>
 <div><span>rate</span><b id="rate">-</b></div>
 <div><span>log time</span><b id="position">-</b></div>
 <div><span>behind live</span><b id="behind">-</b></div>
 <div><span>req/s</span><b id="rps">-</b></div>
 <div><span>sent / ok / failed / dropped</span><b id="counts">-</b></div>
 <div><span>ETA</span><b id="eta">-</b></div>
</div>
<div class="bar"><div id="bar"></div></div><div id="progress" class="muted">-</div></section>
<section><h2>Controls</h2><div class="controls">
 <button id="pause">Pause</button><button id="resume">Resume</button><button id="stop">Stop</button>
 <label>speed <input id="speed-in" type="number" min="0" step="any"></label><button id="speed-set">Set speed</button>
 <label>rate <input id="rate-in" type="number" min="0" step="any"></label><button id="rate-set">Set rate</button>
</div><div id="reply"></div></section>
<section id="reports" class="hidden"><h2>Reports</h2><a id="report-json" href="/report.json">JSON report</a> · <a id="report-html" href="/report.html">HTML report</a> <span id="exit" class="muted"></span></section>
<div class="charts">
 <section><h2>Requests/s</h2><div id="chart-rps"></div></section>
 <section><h2>Latency (ms)</h2><div id="chart-latency"></div></section>
 <section><h2>Lateness p99 (ms)</h2><div id="chart-lateness"></div></section>
</div>
<section><h2>Replayers</h2><table id="replayers"><thead><tr><th>id</th><th>state</th><th>req/s</th><th>in flight</th><th>last heartbeat</th><th>routed</th><th>joined</th></tr></thead><tbody></tbody></table>
<p class="muted">Left: <span id="departed">none</span></p></section>
<div class="charts">
 <section><h2>Top routes</h2><table id="routes"><thead><tr><th>route</th><th>count</th><th>failed</th><th>p50 ms</th><th>p99 ms</th></tr></thead><tbody></tbody></table></section>
 <section><h2>Errors</h2><table id="errors"><thead><tr><th>error</th><th>count</th></tr></thead><tbody></tbody></table></section>
</div>
<section id="diff" class="hidden"><h2>Diff</h2><table><tbody id="diff-rows"></tbody></table></section>
<script src="/vendor/uplot.js"></script><script type="module" src="/app.js"></script>
</body></html>`;
}
