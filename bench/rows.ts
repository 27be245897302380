/**
 * The bench's output: rows of the markdown table (benchmark | figure | baseline | ratio), number
 * formats, and the checks every havok run gets (exit code, accounting, the target's count).
 */
import type { EndReport } from '../services/reporter/report.js';
import type { HavokRun } from './types.js';

export interface Row {
  benchmark: string;
  figure: string;
  baseline: string;
  ratio: string;
}

export const fmtN = (x: number, digits = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const fmtRatio = (a: number, b: number): string => (b > 0 && Number.isFinite(a / b) ? (a / b).toFixed(2) : '—');

export function table(rows: Row[]): string {
  const head: Row = { benchmark: 'benchmark', figure: 'figure', baseline: 'baseline', ratio: 'ratio' };
  const cols = ['benchmark', 'figure', 'baseline', 'ratio'] as const;
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(3, ...[head, ...rows].map((r) => r[c].length))])) as Record<(typeof cols)[number], number>;
  const line = (r: Row): string => `| ${cols.map((c) => r[c].padEnd(width[c])).join(' | ')} |`;
  return [line(head), `| ${cols.map((c) => '-'.repeat(width[c])).join(' | ')} |`, ...rows.map(line)].join('\n');
}

export function droppedText(r: EndReport | undefined): string {
  if (!r) return 'no report';
  const reasons = Object.entries(r.requests.dropped_by_reason).map(([k, v]) => `${k} ${fmtN(v)}`);
  return `${fmtN(r.requests.dropped)}${reasons.length ? ` (${reasons.join(', ')})` : ''}`;
}

/** Accounting and exit-code problems, as warning lines. */
export function checkRun(name: string, run: HavokRun): string[] {
  const w: string[] = [];
  if (run.exit_code !== 0) w.push(`${name}: havok local exited with ${run.exit_code}`);
  const r = run.report;
  if (!r) return [...w, `${name}: no end report written`];
  if (!r.accounting.requests_close) w.push(`${name}: requests accounting does not close (expected ${r.requests.expected}, sent ${r.requests.sent}, dropped ${r.requests.dropped}, unaccounted ${r.requests.unaccounted})`);
  if (!r.accounting.records_close) w.push(`${name}: records accounting does not close (${JSON.stringify(r.records)})`);
  if (r.requests.unfinished > 0) w.push(`${name}: ${r.requests.unfinished} requests sent but never answered in the report`);
  if (r.requests.failed > 0) w.push(`${name}: ${r.requests.failed} requests failed (${JSON.stringify(r.by_error)})`);
  if (run.target.count !== r.requests.sent) w.push(`${name}: the target served ${run.target.count} requests, the report says ${r.requests.sent} sent`);
  return w;
}
