/**
 * Parse rate of each analyzer (issue 9, benchmark 4): lines/s through the analyzer chain exactly
 * as the fetcher runs it (`buildChain(...).analyze(line)`), against the bare parse of the same
 * lines in the same run: `JSON.parse` for jsonl, one precompiled regex `exec` for the line
 * formats. Pure CPU in this process; no I/O is timed (the lines are in memory).
 *
 * Data: the bundled real access log (examples/data/apache_logs, 10,000 combined lines),
 * repeated to `lines`; the common, nginx, regex and jsonl inputs are made from the same requests.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildChain, type ChainOptions } from '../services/fetcher/analyzers/chain.js';
import { NGINX_COMBINED } from '../shared/config.js';

const SAMPLE_LOG = fileURLToPath(new URL('../../examples/data/apache_logs', import.meta.url));

/** The bare baseline for the line formats: the combined format as one plain regex, no escapes. */
const BARE_COMBINED = /^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\S+) "([^"]*)" "([^"]*)"/;
const BARE_COMMON = /^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\S+)/;
/** A user pattern for the `regex` analyzer (named groups), read as its own bare baseline. */
const USER_REGEX = String.raw`^(?<remote_addr>\S+) \S+ \S+ \[(?<ts>[^\]]+)\] "(?<method>[A-Z]+) (?<url>\S+) [^"]*" (?<status>\d{3}) \S+ "[^"]*" "(?<header_user_agent>[^"]*)"`;

export interface ParseResult {
  analyzer: string;
  lines: number;
  /** Lines that became records (the rest were parse errors or filtered). */
  records: number;
  lines_per_s: number;
  baseline: string;
  baseline_lines_per_s: number;
  ratio: number;
}

interface Case {
  analyzer: string;
  lines: string[];
  opts: ChainOptions;
  baseline: string;
  bare: (line: string) => unknown;
}

function cases(lines: number): Case[] {
  const combined = readFileSync(SAMPLE_LOG, 'utf8').split('\n').filter((l) => l.length > 0);
  const many = Array.from({ length: lines }, (_, i) => combined[i % combined.length]);
  const parsed = many.map((l) => BARE_COMBINED.exec(l));
  // common: the combined line up to its byte count.
  const common = many.map((l, i) => {
    const m = parsed[i];
    return m ? l.slice(0, l.indexOf(`" ${m[8]} ${m[9]}`) + m[8].length + m[9].length + 3) : l;
  });
  const jsonl = parsed.map((m, i) =>
    JSON.stringify(
      m
        ? { ts: Date.parse('2015-05-17T10:05:00Z') + i, method: m[5], url: m[6], headers: { 'user-agent': m[11], referer: m[10] } }
        : { ts: i, method: 'GET', url: '/', headers: {} },
    ),
  );
  const userRe = new RegExp(USER_REGEX);
  return [
    { analyzer: 'combined', lines: many, opts: { format: 'combined' }, baseline: 'one regex exec', bare: (l) => BARE_COMBINED.exec(l) },
    { analyzer: 'common', lines: common, opts: { format: 'common' }, baseline: 'one regex exec', bare: (l) => BARE_COMMON.exec(l) },
    { analyzer: 'nginx (log_format combined)', lines: many, opts: { format: 'nginx', logFormat: NGINX_COMBINED }, baseline: 'one regex exec', bare: (l) => BARE_COMBINED.exec(l) },
    { analyzer: 'regex (named groups)', lines: many, opts: { format: 'regex', regex: USER_REGEX }, baseline: 'the same regex exec', bare: (l) => userRe.exec(l) },
    { analyzer: 'jsonl', lines: jsonl, opts: { format: 'jsonl' }, baseline: 'JSON.parse', bare: (l) => JSON.parse(l) },
  ];
}

/** Lines/s of one timed pass; `expect` checks every pass sees the same number of results. */
function pass(lines: string[], fn: (line: string) => unknown, expect: number): number {
  let kept = 0;
  const t0 = performance.now();
  for (let i = 0; i < lines.length; i++) if (fn(lines[i])) kept++;
  const s = (performance.now() - t0) / 1000;
  if (kept !== expect) throw new Error(`parse bench: ${kept} results in a pass, ${expect} in the first`);
  return lines.length / s;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Each analyzer and its baseline in alternating passes (after one untimed pass of each for the
 * JIT), so a machine that gets busier for a moment disturbs both alike; the figures are medians
 * over `rounds`, the ratio the median of the per-round ratios.
 */
export function runParse(lines: number, rounds = 7): ParseResult[] {
  return cases(lines).map((c) => {
    const chain = buildChain(c.opts);
    const analyze = (l: string): unknown => {
      const r = chain.analyze(l);
      return r.ok ? r.rec : undefined;
    };
    let records = 0;
    let bareKept = 0;
    for (const l of c.lines) {
      if (analyze(l)) records++;
      if (c.bare(l)) bareKept++;
    }
    const ours: number[] = [];
    const bare: number[] = [];
    for (let r = 0; r < rounds; r++) {
      ours.push(pass(c.lines, analyze, records));
      bare.push(pass(c.lines, c.bare, bareKept));
    }
    return {
      analyzer: c.analyzer,
      lines: c.lines.length,
      records,
      lines_per_s: Math.round(median(ours)),
      baseline: c.baseline,
      baseline_lines_per_s: Math.round(median(bare)),
      ratio: Math.round(median(ours.map((o, i) => o / bare[i])) * 100) / 100,
    };
  });
}
