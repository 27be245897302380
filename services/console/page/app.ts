/**
 * The console page's code (runs in the browser; compiled by tsc and served as /app.js). It opens
 * the event stream, draws each view the server pushes, and sends control requests. A token given
 * in the page's address (`?token=`) goes with every request.
 */
import type { PageView as View } from '../server.js';

/** The slice of uPlot (loaded by its own script tag as a global) this page uses. */
interface UPlotChart {
  setData(data: Array<ArrayLike<number>>): void;
  setSize(size: { width: number; height: number }): void;
}
interface UPlotSeries {
  label?: string;
  stroke?: string;
  width?: number;
}
declare const uPlot: new (opts: { width: number; height: number; series: UPlotSeries[]; axes?: unknown[]; scales?: unknown }, data: Array<ArrayLike<number>>, target: HTMLElement) => UPlotChart;

const token = new URLSearchParams(location.search).get('token') ?? '';
const withToken = (path: string): string => (token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path);
const $ = (id: string): HTMLElement => document.getElementById(id)!;
const text = (id: string, value: string): void => {
  $(id).textContent = value;
};

const iso = (ms: number): string => (ms > 0 ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-');
const ago = (ms: number): string => (ms < 1000 ? `${ms} ms ago` : `${(ms / 1000).toFixed(1)} s ago`);
const clock = (ms: number): string => new Date(ms).toLocaleTimeString();
function duration(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function chart(id: string, series: UPlotSeries[]): UPlotChart {
  const el = $(id);
  const width = Math.max(300, el.clientWidth || 360);
  return new uPlot({ width, height: 200, series: [{}, ...series], scales: { x: { time: true } } }, [[], ...series.map(() => [])], el);
}

const charts = {
  rps: chart('chart-rps', [
    { label: 'sent', stroke: '#2f7de1', width: 2 },
    { label: 'ok', stroke: '#2e9d57' },
    { label: 'failed', stroke: '#d23f31' },
  ]),
  latency: chart('chart-latency', [
    { label: 'p50', stroke: '#2f7de1' },
    { label: 'p99', stroke: '#d2781f', width: 2 },
  ]),
  lateness: chart('chart-lateness', [{ label: 'lateness p99', stroke: '#8a4fd1', width: 2 }]),
};

/** Replaces a table body's rows; every cell through textContent (routes and errors are the log's own text). */
function rows(tableId: string, data: Array<Array<string | number>>): void {
  const body = document.querySelector(`#${tableId} tbody`)!;
  body.replaceChildren(
    ...data.map((cells) => {
      const tr = document.createElement('tr');
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = String(c);
        if (typeof c === 'number') td.className = 'n';
        tr.append(td);
      }
      return tr;
    }),
  );
}

function render(v: View): void {
  document.body.dataset.state = v.state;
  text('state', v.ended ? `${v.state} (ended)` : v.state);
  text('speed', v.speed === null ? '-' : String(v.speed));
  text('rate', v.rate === null ? '-' : String(v.rate));
  text('position', iso(v.position));
  text('behind', v.behind_live_ms === null ? 'n/a' : `${(v.behind_live_ms / 1000).toFixed(1)} s`);
  text('rps', String(v.totals.rps));
  text('counts', `${v.totals.sent} / ${v.totals.ok} / ${v.totals.failed} / ${v.totals.dropped}`);
  const p = v.progress;
  ($('bar') as HTMLElement).style.width = `${Math.round((p.fraction ?? 0) * 1000) / 10}%`;
  text('progress', p.total === null ? `${p.done} requests done; total known once the source is read` : `${p.done} of ${p.total} requests (${Math.round((p.fraction ?? 0) * 1000) / 10}%)`);
  text('eta', p.eta_s === null ? '-' : p.eta_s === 0 ? 'done' : duration(p.eta_s));
  const s = v.series;
  const t = s.t.map((ms) => ms / 1000);
  charts.rps.setData([t, s.sent, s.ok, s.failed]);
  charts.latency.setData([t, s.p50, s.p99]);
  charts.lateness.setData([t, s.late_p99]);
  rows('replayers', v.replayers.map((r) => [r.id, r.state, r.rps, `${r.inflight}/${r.capacity}`, ago(r.last_heartbeat_ms), r.routed, clock(r.joined_at)]));
  text('departed', v.departed.length ? v.departed.map((d) => `${d.id} (joined ${clock(d.joined_at)}, left ${clock(d.left_at)})`).join(', ') : 'none');
  rows('routes', v.routes.map((r) => [r.api, r.count, r.failed, r.p50_ms, r.p99_ms]));
  rows('errors', v.errors.map((e) => [e.error, e.count]));
  $('diff').classList.toggle('hidden', v.diff === null);
  if (v.diff) rows('diff', Object.entries(v.diff).map(([k, n]) => [k, n]));
  const ended = v.ended !== null;
  $('reports').classList.toggle('hidden', !ended);
  if (ended) {
    ($('report-json') as HTMLAnchorElement).href = withToken('/report.json');
    ($('report-html') as HTMLAnchorElement).href = withToken('/report.html');
    $('report-json').classList.toggle('hidden', !v.reports.json);
    $('report-html').classList.toggle('hidden', !v.reports.html);
    text('exit', `exit code ${v.ended!.exit_code}; written to ${v.reports.json_path}${v.reports.json ? '' : ' where the reporter runs'}`);
  }
}

async function control(op: string, value?: number): Promise<void> {
  const reply = $('reply');
  reply.className = '';
  reply.textContent = `${op}${value === undefined ? '' : ` ${value}`}…`;
  try {
    const res = await fetch(withToken('/api/control'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(value === undefined ? { op } : { op, value }),
    });
    const body = (await res.json()) as { ok: boolean; error?: string; view?: { state: string; speed: number; rate: number } };
    reply.className = body.ok ? '' : 'error';
    reply.textContent = body.ok
      ? `${op}: ok - state ${body.view?.state}, speed ${body.view?.speed}, rate ${body.view?.rate}`
      : `${op}: ${body.error ?? `HTTP ${res.status}`}`;
  } catch (err) {
    reply.className = 'error';
    reply.textContent = `${op}: ${(err as Error).message}`;
  }
}

$('pause').addEventListener('click', () => void control('pause'));
$('resume').addEventListener('click', () => void control('resume'));
$('stop').addEventListener('click', () => void control('stop'));
for (const op of ['speed', 'rate'] as const) {
  $(`${op}-set`).addEventListener('click', () => void control(op, Number(($(`${op}-in`) as HTMLInputElement).value)));
}

let last: View | undefined;
const events = new EventSource(withToken('/events'));
events.onopen = () => text('conn', 'live');
events.onerror = () => {
  // After the end the console may stop with the job (havok local): keep the last view, stop retrying.
  if (last?.ended) {
    events.close();
    text('conn', 'job over; console closed');
  } else {
    text('conn', 'reconnecting…');
  }
};
events.onmessage = (e: MessageEvent<string>) => render((last = JSON.parse(e.data) as View));
