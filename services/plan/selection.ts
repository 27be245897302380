/**
 * `havok plan` of a `[fetcher] type = "jetstream"` job: what the `[fetcher.jetstream] filter`
 * selects in the traffic stream now — how many records, their time range, counts by method,
 * status and route — before anything is read for the replay or sent. It is `havok traffic stats`
 * over the same compiled filter the source replays with (services/traffic/stats.ts), so it is
 * bounded by the same scan budget, and says so when the budget ends it.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectBus } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { ConfigError, SourceError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { selection } from '../fetcher/sources/jetstream/record.js';
import { SOURCES } from '../fetcher/sources/registry.js';
import { sourceScope } from '../fetcher/source.js';
import { compileFilter, type TrafficFilter } from '../traffic/filter.js';
import { formatStats, trafficStats, type TrafficStats } from '../traffic/stats.js';

export interface SelectionSummary extends TrafficStats {
  stream: string;
  repo: string;
  /** The filter as resolved at plan time (relative times to epoch ms), the repo included. */
  filter: TrafficFilter;
  /** Stored records the count could read at most. */
  scan_budget: number;
}

/** Counts what the job's filter selects; throws ConfigError (exit 2) for a bad section. */
export async function planSelection(cfg: HavokConfig, scanBudget: number, log: Logger): Promise<SelectionSummary> {
  const s = cfg.fetcher.jetstream;
  const issues = SOURCES.jetstream.validate(s, sourceScope(cfg));
  if (issues.length) throw new ConfigError(issues);
  const repo = s.repo!;
  const f = selection(s, Date.now()) ?? compileFilter({ repo });
  const nc = await connectBus(cfg.nats, log, { name: `havok-plan-${process.pid}` });
  try {
    const client = { js: jetstream(nc), jsm: await jetstreamManager(nc), stream: s.stream };
    const stats = await trafficStats(client, f, { scanBudget }).catch((err: Error) => {
      throw new SourceError(`cannot read stream ${s.stream} ([fetcher.jetstream] stream): ${err.message}`, false, { cause: err });
    });
    return { stream: s.stream, repo, filter: f.filter, scan_budget: scanBudget, ...stats };
  } finally {
    await nc.close();
  }
}

/** Rows shown per dimension in the text form (the JSON has them all). */
const TOP = 10;

export function formatSelection(sel: SelectionSummary): string {
  const head = `  selection  ${sel.stream}, filter ${JSON.stringify(sel.filter)}`;
  const body = formatStats(sel, TOP)
    .split('\n')
    .map((l) => `             ${l}`);
  const warn = sel.budget_hit
    ? [`  WARNING: the scan budget (${sel.scan_budget} records) ended the count before the range did: the counts cover part of the selection, and the replay was not read. Narrow the filter or raise --scan-budget.`]
    : [];
  return [head, ...body, ...warn].join('\n');
}
