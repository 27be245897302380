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

/** Best of `rounds` timed passes (after one untimed pass for the JIT): lines/s. */
function rate(lines: string[], fn: (line: string) => unknown, rounds: number): { perS: number; kept: number } {
  let kept = 0;
  for (const l of lines) if (fn(l)) kept++;
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    let sink = 0;
    const t0 = performance.now();
    for (let i = 0; i < lines.length; i++) if (fn(lines[i])) sink++;
    const s = (performance.now() - t0) / 1000;
    if (sink !== kept) throw new Error(`parse bench: ${sink} results in a pass, ${kept} in the first`);
    best = Math.max(best, lines.length / s);
  }
  return { perS: best, kept };
}

/** Each analyzer, then its baseline on the same lines: best of `rounds` passes each. */
export function runParse(lines: number, rounds = 5): ParseResult[] {
  return cases(lines).map((c) => {
    const chain = buildChain(c.opts);
    const analyzer = rate(c.lines, (l) => {
      const r = chain.analyze(l);
      return r.ok ? r.rec : undefined;
    }, rounds);
    const bare = rate(c.lines, c.bare, rounds);
    return {
      analyzer: c.analyzer,
      lines: c.lines.length,
      records: analyzer.kept,
      lines_per_s: Math.round(analyzer.perS),
      baseline: c.baseline,
      baseline_lines_per_s: Math.round(bare.perS),
      ratio: Math.round((analyzer.perS / bare.perS) * 100) / 100,
    };
  });
}
