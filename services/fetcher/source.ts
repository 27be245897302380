/**
 * A file source as a stream of records: expands the configured paths, reads each file line by
 * line and runs the analyzer chain, counting every line as a record, a filtered line or a parse
 * error (with a few samples). Shared by the fetcher and `havok plan`, so both count alike.
 */
import type { HavokConfig } from '../../shared/config.js';
import type { SourceCounts } from '../../shared/protocol.js';
import { buildChain, type ChainRecord } from './analyzers/chain.js';
import { loadAnalyzerModule } from './analyzers/module.js';
import { expandPaths, readLines } from './file-source.js';

const MAX_SAMPLES = 10;
const SAMPLE_CHARS = 300;

export interface FileSource {
  files: string[];
  counts: SourceCounts;
  /** Records in file order; stop iterating to stop reading. */
  records(): AsyncGenerator<ChainRecord>;
}

export async function openFileSource(cfg: HavokConfig): Promise<FileSource> {
  const files = await expandPaths(cfg.fetcher.file.path!);
  const chain = buildChain({
    format: cfg.fetcher.file.format,
    fields: cfg.fetcher.file.fields,
    handler: cfg.analyzer.handler,
    module: cfg.analyzer.module ? await loadAnalyzerModule(cfg.analyzer.module) : undefined,
    hashField: cfg.analyzer.hash_field,
  });
  const counts: SourceCounts = { read: 0, parse_errors: 0, filtered: 0, published: 0, samples: [] };
  async function* records(): AsyncGenerator<ChainRecord> {
    for (const file of files) {
      let lineNo = 0;
      for await (const line of readLines(file)) {
        lineNo++;
        counts.read++;
        const res = chain.analyze(line);
        if (res.ok) yield res.rec;
        else if (res.filtered) counts.filtered++;
        else {
          counts.parse_errors++;
          if (counts.samples.length < MAX_SAMPLES) counts.samples.push({ line: lineNo, text: line.slice(0, SAMPLE_CHARS), reason: res.reason });
        }
      }
    }
  }
  return { files, counts, records };
}
