import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LAG_START, LAG_WARN_GAP_MS, lagVerdict, type LagState } from '../../services/reporter/lag.js';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

const T0 = 1_700_000_000_000;

/**
 * Feeds one interval a second (fake clock from T0) through lagVerdict; returns, per interval,
 * whether it warned and whether the state is behind, as 'W' (warned, behind), 'B' (behind,
 * quiet) or '.' (on time).
 */
function run(p99s: ReadonlyArray<number | undefined>, threshold = 100, stepMs = 1000): string {
  let state: LagState = LAG_START;
  let out = '';
  p99s.forEach((p99, i) => {
    const v = lagVerdict(state, p99, threshold, T0 + i * stepMs);
    state = v.state;
    assert.ok(!v.warn || v.state.behind, `a warning only while behind (interval ${i})`);
    out += v.warn ? 'W' : v.state.behind ? 'B' : '.';
  });
  return out;
}

const over = 250;
const under = 5;

describe('lagVerdict', () => {
  test('on time: never behind, never a warning', () => {
    assert.equal(run([0, under, 99.9, 100]), '....', 'equal to the threshold is not over it');
  });

  test('a long lagging run warns once, not every interval', () => {
    assert.equal(run(Array(60).fill(over)), 'W' + 'B'.repeat(59));
  });

  test('recovered for longer than the gap, then behind again: a second warning', () => {
    const p99s = [over, over, ...Array(12).fill(under), over, over];
    assert.equal(run(p99s), 'WB' + '.'.repeat(12) + 'WB');
  });

  test('flapping around the threshold: at most one warning per LAG_WARN_GAP_MS', () => {
    // Over every other second for 30 s: episodes start at 0, 2, 4, …, 28 s.
    const p99s = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? over : under));
    const marks = run(p99s);
    const warnedAt = [...marks].flatMap((m, i) => (m === 'W' ? [i * 1000] : []));
    assert.deepEqual(warnedAt, [0, 10_000, 20_000], marks);
    assert.equal(LAG_WARN_GAP_MS, 10_000);
  });

  test('an episode held back by the gap is warned once the gap has passed, if still going on', () => {
    // Warned at 0 s, recovered at 1 s, behind again from 2 s on: the warning comes at 10 s, once.
    const p99s = [over, under, ...Array(15).fill(over)];
    assert.equal(run(p99s), 'W.' + 'BBBBBBBB' + 'W' + 'BBBBBB');
  });

  test('an interval with nothing sent keeps the state (no evidence either way)', () => {
    assert.equal(run([over, undefined, undefined, over]), 'WBBB', 'still one warning: the idle intervals did not end the episode');
    assert.equal(run([under, undefined, under]), '...');
    // Nothing sent from the start: not behind.
    assert.equal(run([undefined, undefined]), '..');
  });

  test('threshold 0 is off: never behind, never a warning, whatever the lateness', () => {
    assert.equal(run([over, 10_000, 1e6, undefined], 0), '....');
    // Turned off while behind: the BEHIND mark goes away.
    const v = lagVerdict({ behind: true, warned: true, lastWarnAt: T0 }, over, 0, T0 + 1000);
    assert.deepEqual(v, { state: { behind: false, warned: false, lastWarnAt: T0 }, warn: false });
  });

  test('the state is not mutated (pure)', () => {
    const prev: LagState = { behind: false, warned: false, lastWarnAt: null };
    const frozen = Object.freeze({ ...prev });
    const v = lagVerdict(frozen, over, 100, T0);
    assert.deepEqual(frozen, prev);
    assert.deepEqual(v, { state: { behind: true, warned: true, lastWarnAt: T0 }, warn: true });
  });
});

describe('[reporter] lateness_warn_ms', () => {
  test('defaults to 100 ms; set by --set and by HAVOK_REPORTER_LATENESS_WARN_MS; 0 allowed', () => {
    assert.equal(loadConfig({ env: {} }).reporter.lateness_warn_ms, 100);
    assert.equal(loadConfig({ env: {}, set: ['reporter.lateness_warn_ms=25.5'] }).reporter.lateness_warn_ms, 25.5);
    assert.equal(loadConfig({ env: { HAVOK_REPORTER_LATENESS_WARN_MS: '0' } }).reporter.lateness_warn_ms, 0);
  });

  test('a negative or non-number value is an error naming the key', () => {
    for (const value of ['-1', '"soon"']) {
      assert.throws(
        () => loadConfig({ env: {}, set: [`reporter.lateness_warn_ms=${value}`] }),
        (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.key === 'reporter.lateness_warn_ms'),
        `lateness_warn_ms=${value}`,
      );
    }
  });

  test('a misspelt key is still rejected as unknown', () => {
    assert.throws(
      () => loadConfig({ env: {}, set: ['reporter.lateness_warn=5'] }),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.key === 'reporter.lateness_warn' && i.message.startsWith('unknown key')),
    );
  });
});
