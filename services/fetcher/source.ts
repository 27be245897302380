/**
 * The job's sources, as streams of records. `[fetcher] type` picks a kind from the registry
 * (sources/registry.ts); the kind checks its `[fetcher.<type>]` section and opens one source or
 * several (a file each, a Kafka partition each, an SLS logstore), each with its own order and its
 * own counts; every raw line goes through the analyzer chain and is counted as a record, a
 * filtered line or a parse error. Shared by the fetcher and `havok plan`, so both count alike.
 * The time wheel merges sources by timestamp.
 */
import { connectBus } from '../../shared/bus.js';
import { toEpochMs, type HavokConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { SourceCounts } from '../../shared/protocol.js';
import { buildChain, type Chain, type ChainOptions, type ChainRecord } from './analyzers/chain.js';
import { loadAnalyzerModule } from './analyzers/module.js';
import { SOURCES } from './sources/registry.js';
import { methodAllowed } from '../diff/settings.js';
import type { ChainOverride, Source, SourceKind, SourceScope } from './sources/types.js';

export type { Source } from './sources/types.js';
export { sumCounts } from './sources/lines.js';

/** The analyzer chain's options from `[fetcher.file]` and `[analyzer]`, `over` applied. Pure. */
export function chainOptions(cfg: HavokConfig, over: ChainOverride = {}): Omit<ChainOptions, 'module'> {
  const f = cfg.fetcher.file;
  return {
    format: over.format ?? f.format,
    fields: over.fields ?? f.fields,
    logFormat: f.log_format,
    regex: f.regex,
    bodyEncoding: f.body_encoding,
    handler: cfg.analyzer.handler,
    hashField: cfg.analyzer.hash_field,
  };
}

/** The analyzer chain configured by `[analyzer]` and the source's format (`over`, else the file's). */
export async function chainFor(cfg: HavokConfig, over?: ChainOverride): Promise<Chain> {
  return buildChain({ ...chainOptions(cfg, over), module: cfg.analyzer.module ? await loadAnalyzerModule(cfg.analyzer.module) : undefined });
}

/** What a source kind may know of the job besides its own section. Pure. */
export function sourceScope(cfg: HavokConfig, env: NodeJS.ProcessEnv = process.env): SourceScope {
  return { jobId: cfg.job.id, begin: toEpochMs(cfg.job.begin), end: toEpochMs(cfg.job.end), speed: cfg.job.speed, maxIdleMs: cfg.job.max_idle_ms, delayMs: cfg.job.delay_ms, env };
}

export interface OpenOptions {
  /** Default: a `fetcher` logger of the job. */
  log?: Logger;
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** A source that would follow (`follow = true`) reads what is stored now and ends (`havok plan`). */
  bounded?: boolean;
  /** A followed source continues from this line position (the fetcher's checkpoint; `SourceContext.resumeAt`). */
  resumeAt?: number;
}

/**
 * The job's sources, by `[fetcher] type`, each filtered by `[replayer] allow_hosts`. Throws
 * ConfigError (exit 2) naming every key the kind finds missing or wrong.
 */
export async function openSources(cfg: HavokConfig, opts: OpenOptions = {}): Promise<Source[]> {
  const type = cfg.fetcher.type;
  // Widened to the registry's element type: the schema of this same kind parsed the section.
  const kind: SourceKind = SOURCES[type];
  const configured = cfg.fetcher[type];
  const scope = sourceScope(cfg, opts.env);
  const issues = kind.validate?.(configured, scope) ?? [];
  if (issues.length) throw new ConfigError(issues);
  const section = opts.bounded && 'follow' in configured ? { ...configured, follow: false } : configured;
  const log = opts.log ?? createLogger('fetcher', { job: cfg.job.id });
  const sources = await kind.open(section, { ...scope, ...(opts.resumeAt === undefined ? {} : { resumeAt: opts.resumeAt }), log, chain: (over) => chainFor(cfg, over), connectNats: (name) => connectBus(cfg.nats, log, { name }) });
  const reasonOf = filterReason(cfg);
  return sources.map((s) => ({ ...s, records: filterRecords(s.records, s.counts, reasonOf) }));
}

/**
 * Which log hosts may be replayed: `[replayer] allow_hosts`, or the target's host. Pure.
 * Relative URLs (the usual access-log case) are always allowed.
 */
export function hostAllowed(cfg: HavokConfig): (url: string) => boolean {
  const target = cfg.replayer.target ?? cfg.diff?.primary;
  const list = cfg.replayer.allow_hosts ?? (target ? [new URL(target).host] : []);
  if (list.includes('*')) return () => true;
  const hosts = new Set(list.map((h) => h.toLowerCase()));
  return (url) => {
    if (url.startsWith('/')) return true;
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url);
    if (!m) return true;
    const authority = m[1].slice(m[1].lastIndexOf('@') + 1).toLowerCase();
    return hosts.has(authority) || hosts.has(authority.replace(/:\d+$/, ''));
  };
}

/** Why a record is not replayed (`host_not_allowed`, `unsafe_method` under `[diff]`), or undefined. Pure. */
export function filterReason(cfg: HavokConfig): (r: Pick<ChainRecord, 'url' | 'method'>) => string | undefined {
  const allowed = hostAllowed(cfg);
  const diff = cfg.diff;
  return (r) => (!allowed(r.url) ? 'host_not_allowed' : diff && !methodAllowed(diff, r.method) ? 'unsafe_method' : undefined);
}

async function* filterRecords(records: AsyncGenerator<ChainRecord>, counts: SourceCounts, reasonOf: (r: ChainRecord) => string | undefined): AsyncGenerator<ChainRecord> {
  for await (const r of records) {
    const reason = reasonOf(r);
    if (reason === undefined) {
      yield r;
      continue;
    }
    counts.filtered++;
    const by = (counts.filtered_by_reason ??= {});
    by[reason] = (by[reason] ?? 0) + 1;
  }
}
