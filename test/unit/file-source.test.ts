import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { expandPaths, readLines } from '../../services/fetcher/sources/file/read.js';

const APACHE_LOGS = fileURLToPath(new URL('../../../examples/data/apache_logs', import.meta.url));

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of it) out.push(l);
  return out;
}

describe('file source', () => {
  let dir = '';
  const p = (...parts: string[]) => join(dir, ...parts);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'havok-files-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('readLines', () => {
    const rows: Array<[string, string, string[]]> = [
      ['LF', 'a\nb\nc\n', ['a', 'b', 'c']],
      ['last line without a newline is kept', 'a\nb', ['a', 'b']],
      ['CRLF stripped', 'a\r\nb\r\n', ['a', 'b']],
      ['CRLF, last line without a newline', 'a\r\nb\r', ['a', 'b']],
      ['empty lines are yielded (the chain counts them)', 'a\n\nb\n', ['a', '', 'b']],
      ['empty file yields nothing', '', []],
      ['a lone CR inside a line stays', 'a\rb\n', ['a\rb']],
      ['multi-byte UTF-8', 'é→😀\nß\n', ['é→😀', 'ß']],
    ];
    for (const [why, text, want] of rows) {
      it(`${why} (plain and .gz)`, async () => {
        const name = why.replace(/\W+/g, '_');
        await writeFile(p(`${name}.log`), text);
        await writeFile(p(`${name}.log.gz`), gzipSync(text));
        assert.deepEqual(await collect(readLines(p(`${name}.log`))), want);
        assert.deepEqual(await collect(readLines(p(`${name}.log.gz`))), want);
      });
    }

    it('reads the Apache sample line for line, plain and gzipped', async () => {
      const want = readFileSync(APACHE_LOGS, 'utf8').split('\n').slice(0, -1);
      assert.equal(want.length, 10_000);
      assert.deepEqual(await collect(readLines(APACHE_LOGS)), want);
      await writeFile(p('apache.gz'), gzipSync(readFileSync(APACHE_LOGS)));
      assert.deepEqual(await collect(readLines(p('apache.gz'))), want);
    });

    it('keeps lines and multi-byte characters whole across 1 MiB chunk boundaries', async () => {
      // 3-byte characters put a chunk boundary inside a character; CRLF lines put some inside "\r\n".
      const lines = Array.from({ length: 30_000 }, (_, i) => `${i} ${'€'.repeat(i % 50)} line`);
      await writeFile(p('big.log'), lines.join('\r\n'));
      assert.deepEqual(await collect(readLines(p('big.log'))), lines);
    });

    it('cuts an over-long line at maxLineChars and skips the rest of it', async () => {
      await writeFile(p('long.log'), `short\n${'x'.repeat(3000)}\nafter\n${'y'.repeat(3000)}`);
      const got = await collect(readLines(p('long.log'), { maxLineChars: 1000 }));
      // Compared as lengths so a failure prints a readable line, not 3000 x's.
      assert.deepEqual(got.map((l) => `${l[0]}×${l.length}`), ['s×5', 'x×1000', 'a×5', 'y×1000']);
    });

    it('cuts a line longer than a chunk without holding all of it', async () => {
      const big = 'z'.repeat(3 << 20); // 3 MiB: spans several 1 MiB chunks
      await writeFile(p('huge.log'), `a\n${big}\nb\n${big}`);
      const got = await collect(readLines(p('huge.log'), { maxLineChars: 1 << 20 }));
      assert.deepEqual(got.map((l) => `${l[0]}×${l.length}`), ['a×1', `z×${1 << 20}`, 'b×1', `z×${1 << 20}`]);
    });

    it('stops reading when the consumer breaks early', async () => {
      let n = 0;
      for await (const _ of readLines(APACHE_LOGS)) if (++n === 3) break;
      assert.equal(n, 3);
    });

    it('a missing file rejects with ENOENT', async () => {
      await assert.rejects(collect(readLines(p('absent.log'))), { code: 'ENOENT' });
      await assert.rejects(collect(readLines(p('absent.log.gz'))), { code: 'ENOENT' });
    });

    it('a corrupt .gz rejects instead of hanging', async () => {
      await writeFile(p('bad.gz'), 'not gzip at all');
      await assert.rejects(collect(readLines(p('bad.gz'))));
    });
  });

  describe('expandPaths', () => {
    before(async () => {
      await mkdir(p('logs', 'sub'), { recursive: true });
      for (const f of ['b.log', 'a.log', 'c.log.gz', 'notes.txt', 'sub/d.log', 'odd[1].log']) await writeFile(p('logs', f), 'x\n');
    });
    const rows: Array<[string, () => string | string[], string[]]> = [
      ['a plain path', () => p('logs', 'a.log'), ['a.log']],
      ['a glob, sorted', () => p('logs', '*.log'), ['a.log', 'b.log', 'odd[1].log']],
      ['a list of globs, deduplicated and sorted', () => [p('logs', '*.log*'), p('logs', 'a.log')], ['a.log', 'b.log', 'c.log.gz', 'odd[1].log']],
      ['a recursive glob', () => p('logs', '**', 'd.log'), ['sub/d.log']],
      ['an existing name with glob characters is taken literally', () => p('logs', 'odd[1].log'), ['odd[1].log']],
      ['a list where one entry matches nothing', () => [p('logs', 'none-*.log'), p('logs', 'b.log')], ['b.log']],
    ];
    for (const [why, input, want] of rows) {
      it(why, async () => assert.deepEqual(await expandPaths(input()), want.map((f) => p('logs', f))));
    }

    it('nothing matches: error names fetcher.file.path and the patterns', async () => {
      await assert.rejects(expandPaths([p('logs', '*.csv'), p('nope.log')]), (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, /^fetcher\.file\.path: no file matches ".*\*\.csv", ".*nope\.log"$/);
        return true;
      });
    });
  });
});
