/**
 * File source I/O: expand the configured paths and globs, one source per file, and stream a
 * file's lines. Lines are split by hand from 1 MiB chunks — about twice as fast as
 * node:readline — and memory stays bounded by the chunk size and the longest line (itself
 * capped by `maxLineChars`).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { glob } from 'tinyglobby';
import { ConfigError } from '../../../../shared/errors.js';
import type { Chain } from '../../analyzers/chain.js';
import { analyzeLines, emptyCounts } from '../lines.js';
import type { Source } from '../types.js';

const CHUNK_BYTES = 1 << 20;
/** Default cap on one line; a longer one is cut (it will fail to parse and be counted). */
export const MAX_LINE_CHARS = 16 << 20;

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * `fetcher.file.path` (a path, a glob, or a list of them) → absolute file paths, sorted, without
 * duplicates. An existing file is taken literally even if its name has glob characters. Throws
 * ConfigError naming `fetcher.file.path` when nothing matches.
 */
export async function expandPaths(path: string | readonly string[]): Promise<string[]> {
  const patterns = typeof path === 'string' ? [path] : [...path];
  const found = new Set<string>();
  for (const p of patterns) {
    const abs = resolve(p);
    if (await isFile(abs)) {
      found.add(abs);
      continue;
    }
    for (const f of await glob(p, { absolute: true, onlyFiles: true, dot: true, expandDirectories: false })) found.add(resolve(f));
  }
  if (found.size === 0) {
    throw new ConfigError([{ key: 'fetcher.file.path', message: `no file matches ${patterns.map((p) => JSON.stringify(p)).join(', ')}` }]);
  }
  return [...found].sort();
}

export interface ReadLinesOptions {
  /** Longest line kept, in UTF-16 chars; the rest of a longer line is skipped. */
  maxLineChars?: number;
}

/**
 * The lines of `file`, without their `\n` or `\r\n`; `.gz` files are gunzipped on the fly. A last
 * line without a newline is still yielded; an empty file yields nothing. Reading pauses while the
 * consumer is busy (async iteration pulls), so a slow consumer never makes the file pile up in memory.
 */
export async function* readLines(file: string, opts: ReadLinesOptions = {}): AsyncGenerator<string, void, undefined> {
  const maxLine = opts.maxLineChars ?? MAX_LINE_CHARS;
  const raw = createReadStream(file, { highWaterMark: CHUNK_BYTES });
  const stream = file.endsWith('.gz') ? raw.pipe(createGunzip({ chunkSize: CHUNK_BYTES })) : raw;
  // pipe() does not forward errors: without this a read error on a .gz would hang the iteration.
  if (stream !== raw) raw.on('error', (err) => stream.destroy(err));
  // StringDecoder keeps a multi-byte UTF-8 character that straddles two chunks whole.
  const decoder = new StringDecoder('utf8');
  let carry = '';
  // True while skipping the tail of an over-long line, up to its newline.
  let skipping = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const text = decoder.write(chunk);
      let start = 0;
      let nl = text.indexOf('\n');
      if (skipping) {
        if (nl < 0) continue;
        skipping = false;
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      while (nl >= 0) {
        let line = carry === '' ? text.slice(start, nl) : carry + text.slice(start, nl);
        carry = '';
        if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
        // Cut here too, so the result does not depend on where the chunk boundaries fell.
        yield line.length > maxLine ? line.slice(0, maxLine) : line;
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      if (start < text.length) carry += text.slice(start);
      if (carry.length > maxLine) {
        yield carry.slice(0, maxLine);
        carry = '';
        skipping = true;
      }
    }
    const rest = carry + decoder.end();
    if (rest !== '' && !skipping) yield (rest.charCodeAt(rest.length - 1) === 13 ? rest.slice(0, -1) : rest).slice(0, maxLine);
  } finally {
    // An early `break` by the consumer must still close the file.
    raw.destroy();
    if (stream !== raw) stream.destroy();
  }
}

/** One source per file matched by `[fetcher.file] path`, in path order. */
export async function openFileSources(path: string | readonly string[], chain: Chain): Promise<Source[]> {
  const files = await expandPaths(path);
  return files.map((file) => {
    const counts = emptyCounts();
    const label = files.length > 1 ? basename(file) : undefined;
    return { name: file, counts, records: analyzeLines(readLines(file), chain, counts, label) };
  });
}
