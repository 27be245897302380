/**
 * What a replayer keeps for the report beyond its counters: the heavy hitters per dimension
 * (shared/topk) and the request samples with their trace ids (shared/trace/samples.ts). Both are
 * bounded and sent whole with every stats message (the reporter keeps each life's latest).
 */
import type { LogRecord, StatsMsg } from '../../shared/protocol.js';
import { TopRecorder } from '../../shared/topk/recorder.js';
import type { TopSettings } from '../../shared/topk/settings.js';
import { SampleKeeper } from '../../shared/trace/samples.js';
import type { Exchange } from './exchange.js';

export class Findings {
  private readonly top: TopRecorder;
  private readonly samples: SampleKeeper;

  constructor(settings: TopSettings, replayer: string) {
    this.top = new TopRecorder(settings);
    this.samples = new SampleKeeper(settings.samples, replayer);
  }

  /** The route template of a record (the analyzer's `api`, else learned from the paths sent). */
  route(rec: LogRecord): string {
    return this.top.route(rec);
  }

  /** A request settled: `error` is its error kind when it failed without a response; `route` from `route(rec)`. */
  settled(ex: Exchange, error: string | undefined, latencyMs: number, fromDueMs: number, route: string): void {
    const rec = ex.rec;
    const body = rec.body;
    const sent = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    const status = error === undefined ? ex.status : 0;
    this.top.observe(rec, route, status, error, latencyMs, sent, ex.received);
    this.samples.offer(rec, status, error, latencyMs, fromDueMs - latencyMs, ex.traceId);
  }

  /** The stats message's `top` and `samples`. */
  wire(): Pick<StatsMsg, 'top' | 'samples'> {
    return { top: this.top.snapshot(), samples: this.samples.samples() };
  }
}
