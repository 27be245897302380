/**
 * The HTML report's diff section: endpoints sorted by different fields, each field's counts, and
 * its examples with the three responses side by side, the differing values highlighted. Pure.
 * Everything from a target or the log goes through `esc`.
 */
import { esc, fmtInt, fmtMs } from '../reporter/html-format.js';
import type { DiffExample, DiffExampleResponse } from '../../shared/protocol.js';
import type { DiffFieldReport } from './join.js';
import type { DiffReport } from './report.js';
import { TARGETS } from './settings.js';

const pct = (x: number): string => `${(x * 100).toFixed(x < 0.01 && x > 0 ? 3 : 1)}%`;

export function diffSection(d: DiffReport | undefined): string {
  if (!d) return '';
  const skipped = Object.values(d.skipped).reduce((a, b) => a + b, 0);
  const endpoints = d.endpoints.map((e) => {
    const fields = e.fields.map((f) => fieldBlock(e.endpoint, f)).join('');
    const noise = e.noise_fields.length
      ? `<table class="diff-noise"><thead><tr><th>noise or below threshold</th><th>kind</th><th class="n">raw</th><th class="n">noise</th><th class="n">relative</th><th class="n">absolute</th></tr></thead><tbody>${e.noise_fields
          .map((f) => `<tr><td><code>${esc(f.path)}</code>${f.ignored ? ' <span class="badge small">ignored</span>' : ''}</td><td>${esc(f.kind)}</td><td class="n">${fmtInt(f.raw)}</td><td class="n">${fmtInt(f.noise)}</td><td class="n">${pct(f.relative)}</td><td class="n">${pct(f.absolute)}</td></tr>`)
          .join('')}</tbody></table>`
      : '';
    const skip = Object.entries(e.skipped).map(([k, v]) => `${esc(k)} ${fmtInt(v)}`).join(', ');
    return `<details class="diff-endpoint"${e.different ? ' open' : ''}><summary><code>${esc(e.endpoint)}</code> <span class="${e.different ? 'bad' : 'ok-text'}">${fmtInt(e.different)} different field${e.different === 1 ? '' : 's'}</span> <span class="count">${fmtInt(e.total)} records compared${skip ? `, skipped: ${skip}` : ''}</span></summary>${fields}${noise}</details>`;
  });
  const targets = Object.entries(d.targets)
    .map(([name, t]) => `<tr><td>${esc(name)}</td><td><code>${esc(t.url)}</code></td><td class="n">${fmtInt(t.sent)}</td><td class="n">${fmtInt(t.ok)}</td><td class="n${t.failed ? ' bad' : ''}">${fmtInt(t.failed)}</td><td>${esc(Object.entries(t.by_error).map(([k, v]) => `${k}:${v}`).join(' '))}</td><td class="n">${fmtMs(t.latency_ms.p99)}</td><td class="n">${fmtMs(t.lateness_ms.p99)}</td></tr>`)
    .join('');
  const odd = Object.entries(d.bodies).flatMap(([t, flags]) => Object.entries(flags).map(([k, v]) => `${esc(t)} ${esc(k)} ${fmtInt(v)}`));
  return `<section id="diff">
<style>${CSS}</style>
  <h2>Response differences <span class="count">${fmtInt(d.critical)} different fields · ${fmtInt(d.compared)} records compared · ${fmtInt(skipped)} skipped · thresholds: relative ${pct(d.relative_threshold)}, absolute ${pct(d.absolute_threshold)}</span></h2>
  <p id="diff-verdict" class="badge ${d.critical ? 'bad' : 'ok'}">${d.critical ? `${fmtInt(d.critical)} field${d.critical === 1 ? '' : 's'} differ beyond noise` : 'no difference beyond noise'}</p>
  ${targets ? `<table id="diff-targets"><thead><tr><th>target</th><th>url</th><th class="n">sent</th><th class="n">ok</th><th class="n">failed</th><th>errors</th><th class="n">p99</th><th class="n">lateness p99</th></tr></thead><tbody>${targets}</tbody></table>` : ''}
  ${odd.length ? `<p class="diff-bodies">bodies not compared whole or as typed: ${odd.join(' · ')}</p>` : ''}
  ${endpoints.join('\n') || '<p class="empty">nothing compared</p>'}
</section>`;
}

function fieldBlock(endpoint: string, f: DiffFieldReport): string {
  const examples = f.examples.map(exampleBlock).join('');
  return `<div class="diff-field" data-endpoint="${esc(endpoint)}" data-path="${esc(f.path)}"><h3><code>${esc(f.path)}</code> <span class="kind">${esc(f.kind)}</span> <span class="count">raw ${fmtInt(f.raw)} · noise ${fmtInt(f.noise)} · relative ${pct(f.relative)} · absolute ${pct(f.absolute)}</span></h3>${examples || '<p class="empty">no example kept</p>'}</div>`;
}

function exampleBlock(ex: DiffExample): string {
  const cols = TARGETS.filter((t) => ex.responses[t]).map((t) => responseColumn(t, ex.responses[t], ex));
  const trace = ex.trace_id ? ` · trace <code>${esc(ex.trace_id)}</code>` : '';
  return `<div class="diff-example"><p class="req"><code>${esc(ex.request.method)} ${esc(ex.request.url)}</code> · source ${fmtInt(ex.src)} line ${fmtInt(ex.seq)}${trace} · at <code>${esc(ex.at)}</code></p><div class="diff-cols">${cols.join('')}</div></div>`;
}

function responseColumn(target: string, r: DiffExampleResponse, ex: DiffExample): string {
  const value = ex.values[target];
  const head = `<div class="diff-col diff-${esc(target)}"><h4>${esc(target)} <span class="status">${r.error ? `error ${esc(r.error)}` : esc(r.status)}</span></h4><p class="value">value: ${value === undefined ? '<mark>(none)</mark>' : `<mark>${esc(value)}</mark>`}</p>`;
  const headers = Object.entries(r.headers)
    .map(([k, v]) => {
      const line = `${esc(k)}: ${esc(v)}`;
      return ex.at === `headers.${k}` ? `<mark>${line}</mark>` : line;
    })
    .join('\n');
  return `${head}<pre class="headers">${headers}</pre><pre class="body">${highlight(r.body, ex.at, value)}</pre></div>`;
}

/**
 * The body text, escaped, with the line showing the field's value marked: the line holding the
 * field's key and value (JSON), else the first holding the value, else none.
 */
export function highlight(body: string, at: string, value: string | undefined): string {
  const lines = body.split('\n');
  const key = /([^.[\]]+)$/.exec(at)?.[1];
  let hit = -1;
  if (value !== undefined) {
    if (key) hit = lines.findIndex((l) => l.includes(`${JSON.stringify(key)}: ${value}`));
    if (hit < 0) hit = lines.findIndex((l) => l.includes(value));
  }
  return lines.map((l, i) => (i === hit ? `<mark>${esc(l)}</mark>` : esc(l))).join('\n');
}

const CSS = `
#diff details{background:var(--card);border:1px solid var(--line);border-radius:6px;margin:10px 0;padding:6px 12px}
#diff summary{cursor:pointer;font-weight:600}
#diff .ok-text{color:var(--ok)}
#diff h3{font-size:14px;margin:12px 0 6px}
#diff .kind{font-size:12px;background:#fee2e2;color:#991b1b;border-radius:8px;padding:1px 7px}
#diff .diff-example{border-top:1px dashed var(--line);padding:6px 0}
#diff .req{margin:2px 0 6px;color:var(--mut)}
#diff .diff-cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:8px}
#diff .diff-col{border:1px solid var(--line);border-radius:4px;padding:4px 8px;min-width:0}
#diff .diff-col h4{margin:2px 0;font-size:13px}
#diff .diff-candidate{border-color:#fca5a5}
#diff .value{margin:2px 0}
#diff pre{margin:4px 0;font-size:11px;max-height:260px;overflow:auto;white-space:pre-wrap;word-break:break-all;background:#f8fafc}
#diff mark{background:#fde68a}
#diff .diff-candidate mark{background:#fecaca}
#diff .diff-noise{margin:8px 0;opacity:.8}
#diff-verdict{margin:4px 0 10px}
`;
