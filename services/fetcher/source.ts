/**
 * Sources as streams of records. Every source (a file, a Kafka partition, an SLS logstore) has
 * its own order and its own counts; each raw line goes through the analyzer chain and is counted
 * as a record, a filtered line or a parse error (with a few samples). Shared by the fetcher and
 * `havok plan`, so both count alike. The time wheel merges sources by timestamp.
 */
import { basename } from 'node:path';
import { requireKeys, type HavokConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import type { SourceCounts } from '../../shared/protocol.js';
import { buildChain, type Chain, type ChainRecord } from './analyzers/chain.js';
import { loadAnalyzerModule } from './analyzers/module.js';
import { expandPaths, readLines } from './file-source.js';
import { kafkaChainConfig, openKafkaSources } from './kafka-source.js';
import { openSlsSources, slsChainConfig } from './sls-source.js';

const MAX_SAMPLES = 10;
const SAMPLE_CHARS = 300;

export interface Source {
  /** File path, `topic/partition`, `project/logstore`: for logs and the report. */
  name: string;
  counts: SourceCounts;
  /** Records in file order; stop iterating to stop reading. */
  records: AsyncGenerator<ChainRecord>;
}

export function emptyCounts(): SourceCounts {
  return { read: 0, parse_errors: 0, filtered: 0, published: 0, samples: [] };
}

/** The analyzer chain configured by `[analyzer]` and the source's format. */
export async function chainFor(cfg: HavokConfig): Promise<Chain> {
  return buildChain({
    format: cfg.fetcher.file.format,
    fields: cfg.fetcher.file.fields,
    logFormat: cfg.fetcher.file.log_format,
    regex: cfg.fetcher.file.regex,
    bodyEncoding: cfg.fetcher.file.body_encoding,
    handler: cfg.analyzer.handler,
    module: cfg.analyzer.module ? await loadAnalyzerModule(cfg.analyzer.module) : undefined,
    hashField: cfg.analyzer.hash_field,
  });
}

/** The job's sources, by `[fetcher] type`, each filtered by `[replayer] allow_hosts`. */
export async function openSources(cfg: HavokConfig): Promise<Source[]> {
  const allowed = hostAllowed(cfg);
  return (await openRawSources(cfg)).map((s) => ({ ...s, records: filterHosts(s.records, s.counts, allowed) }));
}

/**
 * Which log hosts may be replayed: `[replayer] allow_hosts`, or the target's host. Pure.
 * Relative URLs (the usual access-log case) are always allowed.
 */
export function hostAllowed(cfg: HavokConfig): (url: string) => boolean {
  const list = cfg.replayer.allow_hosts ?? (cfg.replayer.target ? [new URL(cfg.replayer.target).host] : []);
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

async function* filterHosts(records: AsyncGenerator<ChainRecord>, counts: SourceCounts, allowed: (url: string) => boolean): AsyncGenerator<ChainRecord> {
  for await (const r of records) {
    if (allowed(r.url)) {
      yield r;
      continue;
    }
    counts.filtered++;
    const by = (counts.filtered_by_reason ??= {});
    by.host_not_allowed = (by.host_not_allowed ?? 0) + 1;
  }
}

async function openRawSources(cfg: HavokConfig): Promise<Source[]> {
  switch (cfg.fetcher.type) {
    case 'file':
      requireKeys(cfg, [['fetcher.file.path', cfg.fetcher.file.path]]);
      return openFileSources(cfg, await chainFor(cfg));
    case 'kafka':
      return openKafkaSources(cfg, await chainFor(kafkaChainConfig(cfg)));
    case 'sls':
      return openSlsSources(cfg, await chainFor(slsChainConfig(cfg)));
    default:
      throw new ConfigError([{ key: 'fetcher.type', message: `"${cfg.fetcher.type}" sources are not available in this version; use "file"` }]);
  }
}

/** One source per file matched by `[fetcher.file] path`, in path order. */
export async function openFileSources(cfg: HavokConfig, chain: Chain): Promise<Source[]> {
  const files = await expandPaths(cfg.fetcher.file.path!);
  return files.map((file) => {
    const counts = emptyCounts();
    const label = files.length > 1 ? basename(file) : undefined;
    return { name: file, counts, records: analyzeLines(readLines(file), chain, counts, label) };
  });
}

/**
 * Runs raw lines through the chain, counting each. `label` prefixes the reason of parse-error
 * samples when a job has several sources. Other sources (Kafka, SLS) use it on their lines too.
 */
export async function* analyzeLines(lines: AsyncIterable<string>, chain: Chain, counts: SourceCounts, label?: string): AsyncGenerator<ChainRecord> {
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    counts.read++;
    const res = chain.analyze(line);
    if (res.ok) yield res.rec;
    else if (res.filtered) {
      counts.filtered++;
      const by = (counts.filtered_by_reason ??= {});
      by.analyzer = (by.analyzer ?? 0) + 1;
    }
    else {
      counts.parse_errors++;
      if (counts.samples.length < MAX_SAMPLES) counts.samples.push({ line: lineNo, text: line.slice(0, SAMPLE_CHARS), reason: label ? `${label}: ${res.reason}` : res.reason });
    }
  }
}

/** Sums the counts of several sources (samples: the first few overall). */
export function sumCounts(all: SourceCounts[]): SourceCounts {
  const t = emptyCounts();
  for (const c of all) {
    t.read += c.read;
    t.parse_errors += c.parse_errors;
    t.filtered += c.filtered;
    t.published += c.published;
    t.samples.push(...c.samples.slice(0, MAX_SAMPLES - t.samples.length));
  }
  return t;
}
