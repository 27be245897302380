/**
 * File sources as streams of records: the configured paths are expanded and each file is one
 * source (its own order, its own counts). Each line goes through the analyzer chain and is
 * counted as a record, a filtered line or a parse error (with a few samples). Shared by the
 * fetcher and `havok plan`, so both count alike.
 */
import { basename } from 'node:path';
import type { HavokConfig } from '../../shared/config.js';
import type { SourceCounts } from '../../shared/protocol.js';
import { buildChain, type Chain, type ChainRecord } from './analyzers/chain.js';
import { loadAnalyzerModule } from './analyzers/module.js';
import { expandPaths, readLines } from './file-source.js';

const MAX_SAMPLES = 10;
const SAMPLE_CHARS = 300;

export interface FileSource {
  file: string;
  counts: SourceCounts;
  /** Records in file order; stop iterating to stop reading. */
  records: AsyncGenerator<ChainRecord>;
}

export function emptyCounts(): SourceCounts {
  return { read: 0, parse_errors: 0, filtered: 0, published: 0, samples: [] };
}

/** One source per file matched by `[fetcher.file] path`, in path order. */
export async function openFileSources(cfg: HavokConfig): Promise<FileSource[]> {
  const files = await expandPaths(cfg.fetcher.file.path!);
  const chain = buildChain({
    format: cfg.fetcher.file.format,
    fields: cfg.fetcher.file.fields,
    handler: cfg.analyzer.handler,
    module: cfg.analyzer.module ? await loadAnalyzerModule(cfg.analyzer.module) : undefined,
    hashField: cfg.analyzer.hash_field,
  });
  return files.map((file) => {
    const counts = emptyCounts();
    return { file, counts, records: analyze(file, chain, counts, files.length) };
  });
}

async function* analyze(file: string, chain: Chain, counts: SourceCounts, files: number): AsyncGenerator<ChainRecord> {
  let lineNo = 0;
  for await (const line of readLines(file)) {
    lineNo++;
    counts.read++;
    const res = chain.analyze(line);
    if (res.ok) yield res.rec;
    else if (res.filtered) counts.filtered++;
    else {
      counts.parse_errors++;
      if (counts.samples.length < MAX_SAMPLES) counts.samples.push({ line: lineNo, text: line.slice(0, SAMPLE_CHARS), reason: files > 1 ? `${basename(file)}: ${res.reason}` : res.reason });
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
