/**
 * HTML blocks of the heavy hitters (per dimension: the top entries with count ± bound and share,
 * and the `other` row) and of the request samples (with links to their traces). Pure; every
 * value from the log or the target goes through `esc`.
 */
import { fmtBytes } from './format.js';
import type { FindingsReport, TopSection } from './findings.js';
import { esc, fmtInt, fmtMs, pct } from './html-format.js';

/** Rows per dimension on the page (the JSON report has `[reporter.top] show`). */
const MAX_ROWS = 25;

const DIM_TITLES: Record<string, string> = { route: 'Route template', url: 'URL', host: 'Host', status: 'Status / error', key: 'hash_field key' };

function dimTable(dim: string, s: TopSection): string {
  const rows = s.entries.slice(0, MAX_ROWS).map((e) => {
    const l = e.latency_ms;
    return `<tr><td class="api" title="${esc(e.key)}">${esc(e.key)}</td><td class="n">${fmtInt(e.count)}${e.bound > 0 ? ` <span class="bound">± ${fmtInt(e.bound)}</span>` : ''}</td><td class="n">${pct(e.count, s.requests)}</td><td class="n">${fmtInt(e.requests_ok)}</td><td class="n">${fmtBytes(e.bytes_ok)}</td><td class="n${e.requests_failed > 0 ? ' bad' : ''}">${fmtInt(e.requests_failed)}</td><td class="n">${fmtBytes(e.bytes_failed)}</td><td class="n">${l ? fmtMs(l.p50) : '-'}</td><td class="n">${l ? fmtMs(l.p99) : '-'}</td></tr>`;
  });
  const hidden = s.entries.slice(MAX_ROWS).reduce((n, e) => n + e.count, 0);
  const other = s.other.count + hidden;
  rows.push(`<tr class="other"><td class="api">other (outside the top ${fmtInt(Math.min(MAX_ROWS, s.entries.length))}; any one key ≤ ${fmtInt(s.bound_unlisted)})</td><td class="n">${fmtInt(other)}</td><td class="n">${pct(other, s.requests)}</td><td colspan="6"></td></tr>`);
  return `<h3>${esc(DIM_TITLES[dim] ?? dim)} <span class="count">${fmtInt(s.requests)} requests</span></h3><table id="top-${esc(dim)}" class="top-table"><thead><tr><th>${esc(dim)}</th><th class="n">count ± bound</th><th class="n">share</th><th class="n">ok</th><th class="n">bytes ok</th><th class="n">failed</th><th class="n">bytes failed</th><th class="n">p50</th><th class="n">p99</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The heavy hitters section's content ('' when the replayers sent no summaries). */
export function topBlock(top: FindingsReport['top']): string {
  if (!top) return '';
  const tables = Object.entries(top).map(([dim, s]) => dimTable(dim, s));
  return `<section><h2>Heavy hitters <span class="count">count ± bound: the true count lies in [count − bound, count]</span></h2>${tables.join('')}</section>`;
}

/** The request samples section ('' when there are none). */
export function samplesBlock(samples: FindingsReport['samples']): string {
  if (!samples?.length) return '';
  const rows = samples.map((s) => {
    const trace = s.trace_id ? (s.link ? `<a href="${esc(s.link)}">${esc(s.trace_id)}</a>` : esc(s.trace_id)) : '-';
    const where = `#${s.src} line ${s.line ?? '?'} (record ${s.seq})`;
    return `<tr><td>${esc(s.group)}</td><td class="trace">${trace}</td><td>${esc(s.method)}</td><td class="api" title="${esc(s.url)}">${esc(s.url)}</td><td class="n${s.status >= 400 || s.error ? ' bad' : ''}">${s.error ? esc(s.error) : s.status}</td><td class="n">${fmtMs(s.latency_ms)}</td><td class="n">${fmtMs(s.lateness_ms)}</td><td>${esc(s.replayer)}</td><td>${esc(where)}</td></tr>`;
  });
  return `<section><h2>Request samples <span class="count">${fmtInt(samples.length)}</span></h2><table id="request-samples"><thead><tr><th>kept as</th><th>trace id</th><th>method</th><th>URL</th><th class="n">status</th><th class="n">latency</th><th class="n">lateness</th><th>replayer</th><th>source</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}
