/**
 * Cost of the trace context and the heavy hitters on the replayer's send path (issue 19), in this
 * process, CPU only: per request, `buildRequest` (what every send does anyway; the baseline), then
 * the same plus `Tracer.apply` (W3C), then the same plus what a settled request costs
 * (`TopRecorder.observe` over the five dimensions, the route learner, `SampleKeeper.offer`), and a
 * summary snapshot every 10,000 requests (as the stats message every second). Records: the bundled
 * demo log's requests, their URLs made unique per pass so the summaries keep evicting.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildRequest, compileRules } from '../services/replayer/request.js';
import type { DueRecord } from '../shared/protocol.js';
import { TopRecorder } from '../shared/topk/recorder.js';
import { topSchema } from '../shared/topk/settings.js';
import { compileTracer } from '../shared/trace/propagate.js';
import { SampleKeeper } from '../shared/trace/samples.js';
import { traceSchema } from '../shared/trace/settings.js';

const SAMPLE_LOG = fileURLToPath(new URL('../../examples/data/apache_logs', import.meta.url));

export interface FindingsBench {
  requests: number;
  /** Requests per second through each path (median of 5 passes). */
  build_rps: number;
  traced_rps: number;
  findings_rps: number;
}

export function runFindings(requests: number): FindingsBench {
  const urls = readFileSync(SAMPLE_LOG, 'utf8')
    .split('\n')
    .map((l) => /"[A-Z]+ (\S+)/.exec(l)?.[1])
    .filter((u): u is string => u !== undefined);
  const recs: DueRecord[] = Array.from({ length: requests }, (_, i) => ({ ts: i, src: 0, seq: i, line: i + 1, method: 'GET', url: `${urls[i % urls.length]}?n=${i}`, headers: { 'user-agent': 'bench', host: 'demo' }, due: i, copy: 0 }));
  const rules = compileRules({ 'x-havok-replay': 'bench' }, []);
  const tracer = compileTracer(traceSchema.parse({ propagation: 'w3c' }), 'bench')!;
  const top = new TopRecorder(topSchema.parse({}));
  const samples = new SampleKeeper(10, 'bench');
  let sink = 0;
  const pass = (traced: boolean, found: boolean): number => {
    const t0 = performance.now();
    for (let i = 0; i < recs.length; i++) {
      const rec = recs[i];
      const req = buildRequest(rec, rules);
      if (traced) sink += tracer.apply(rec, req.headers).length;
      if (found) {
        const route = top.route(rec);
        top.observe(rec, route, 200, undefined, (i % 97) / 10, 0, 1000);
        samples.offer(rec, 200, undefined, (i % 97) / 10, 0.1, req.headers.traceparent);
        if (i % 10_000 === 9_999) sink += Object.keys(top.snapshot()).length;
      }
      sink += req.path.length;
    }
    return (recs.length / (performance.now() - t0)) * 1000;
  };
  const median = (traced: boolean, found: boolean): number => {
    const runs = Array.from({ length: 5 }, () => pass(traced, found)).sort((a, b) => a - b);
    return runs[2];
  };
  const out = { requests, build_rps: median(false, false), traced_rps: median(true, false), findings_rps: median(true, true) };
  if (sink === -1) console.log(sink);
  return out;
}
