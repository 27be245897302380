/**
 * Raw lines → records, counted: each line is read, then a record, a filtered line or a parse
 * error (with a few samples). Every kind uses it, so every source counts alike; a source that
 * had to analyze its lines already (SLS sorts a window by the analyzed time) hands the results
 * over instead, so no line is parsed twice.
 */
import type { SourceCounts } from '../../../shared/protocol.js';
import type { Chain, ChainRecord, ChainResult } from '../analyzers/chain.js';

const MAX_SAMPLES = 10;
const SAMPLE_CHARS = 300;

/** A line with the chain's verdict on it. */
export interface AnalyzedLine {
  line: string;
  res: ChainResult;
}

export function emptyCounts(): SourceCounts {
  return { read: 0, parse_errors: 0, filtered: 0, published: 0, samples: [] };
}

/** Counts one analyzed line (the `lineNo`-th); returns its record, if it is one. */
function count(line: string, res: ChainResult, lineNo: number, counts: SourceCounts, label: string | undefined): ChainRecord | undefined {
  counts.read++;
  if (res.ok) {
    res.rec.line = lineNo;
    return res.rec;
  }
  if (res.filtered) {
    counts.filtered++;
    const by = (counts.filtered_by_reason ??= {});
    by.analyzer = (by.analyzer ?? 0) + 1;
  } else {
    counts.parse_errors++;
    if (counts.samples.length < MAX_SAMPLES) counts.samples.push({ line: lineNo, text: line.slice(0, SAMPLE_CHARS), reason: label ? `${label}: ${res.reason}` : res.reason });
  }
  return undefined;
}

/**
 * Runs raw lines through the chain, counting each. `label` prefixes the reason of parse-error
 * samples when a job has several sources.
 */
export async function* analyzeLines(lines: AsyncIterable<string>, chain: Chain, counts: SourceCounts, label?: string): AsyncGenerator<ChainRecord> {
  let lineNo = 0;
  for await (const line of lines) {
    const rec = count(line, chain.analyze(line), ++lineNo, counts, label);
    if (rec) yield rec;
  }
}

/** As analyzeLines, for lines the source analyzed already. */
export async function* countAnalyzed(items: AsyncIterable<AnalyzedLine>, counts: SourceCounts, label?: string): AsyncGenerator<ChainRecord> {
  let lineNo = 0;
  for await (const { line, res } of items) {
    const rec = count(line, res, ++lineNo, counts, label);
    if (rec) yield rec;
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
