import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, test } from 'node:test';
import { createProgressView, plainLine, type ProgressFigures } from '../../services/reporter/progress.js';

const base: ProgressFigures = { job: 'j', state: 'running', position: Date.UTC(2015, 4, 17, 10, 5, 3), sent: 12, total: 100, rps: 3.6, p99: 1.5, failed: 1, dropped: 0 };
const HEAD = '[j] running  log 2015-05-17T10:05:03Z  sent 12/100  4 req/s  p99 1.5 ms';
const TAIL = '  failed 1  dropped 0';

describe('plain progress line: lateness', () => {
  test("shows the interval's lateness p99 to 0.1 ms", () => {
    assert.equal(plainLine({ ...base, lateP99: 3.141 }), `${HEAD}  late p99 3.1 ms${TAIL}`);
    assert.equal(plainLine({ ...base, lateP99: 0.04 }), `${HEAD}  late p99 0 ms${TAIL}`);
    assert.equal(plainLine({ ...base, lateP99: 1919.25, behind: false }), `${HEAD}  late p99 1919.3 ms${TAIL}`);
  });

  test('marks BEHIND after the lateness', () => {
    assert.equal(plainLine({ ...base, lateP99: 312.5, behind: true }), `${HEAD}  late p99 312.5 ms BEHIND${TAIL}`);
  });

  test('nothing sent in the interval: no figure; still BEHIND if the last measured one was', () => {
    assert.equal(plainLine(base), `${HEAD}${TAIL}`, 'idle and on time: nothing to say');
    assert.equal(plainLine({ ...base, behind: true }), `${HEAD}  late p99 - BEHIND${TAIL}`);
  });
});

/** A stream cli-progress takes for a terminal; collects what is drawn. */
function fakeTty(): { out: PassThrough & { isTTY: boolean; columns: number }; text: () => string } {
  const out = Object.assign(new PassThrough(), { isTTY: true, columns: 300 });
  let drawn = '';
  out.on('data', (b: Buffer) => (drawn += b.toString()));
  return { out, text: () => stripVTControlCharacters(drawn) };
}

describe('terminal progress bar: lateness', () => {
  test('the bar shows the lateness p99 and BEHIND', () => {
    const { out, text } = fakeTty();
    const view = createProgressView(out);
    view.update({ ...base, lateP99: 3.14 });
    view.update({ ...base, sent: 20, lateP99: 420.04, behind: true });
    view.stop();
    assert.match(text(), /\| p99 1\.5 ms \| late p99 3\.1 ms \| failed 1 dropped 0/);
    assert.match(text(), /sent 20\/100 \| 4 req\/s \| p99 1\.5 ms \| late p99 420 ms BEHIND \| failed 1 dropped 0/);
  });

  test('nothing measured: a dash in the bar (its layout is fixed)', () => {
    const { out, text } = fakeTty();
    const view = createProgressView(out);
    view.update(base);
    view.stop();
    assert.match(text(), /\| late p99 - \| failed 1/);
    assert.doesNotMatch(text(), /BEHIND/);
  });
});
