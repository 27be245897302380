import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { filterReason } from '../../services/fetcher/source.js';
import { adoptDiff, methodAllowed } from '../../services/diff/settings.js';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

function configFile(toml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'havok-diff-cfg-'));
  const file = join(dir, 'job.toml');
  writeFileSync(file, toml);
  return file;
}

const DIFF = '[diff]\nprimary = "http://127.0.0.1:1"\ncandidate = "http://127.0.0.1:2"\n';

describe('[diff] config', () => {
  test('absent: no diff; present: the defaults of the issue', () => {
    assert.equal(loadConfig({}).diff, undefined);
    const d = loadConfig({ file: configFile(DIFF) }).diff!;
    assert.deepEqual(
      [d.secondary, d.array_order, d.relative_threshold, d.absolute_threshold, d.examples, d.allow_writes, d.fail_on_difference, d.number_tolerance, d.ignore, d.ignore_headers],
      [undefined, 'strict', 0.2, 0.0003, 5, false, false, 0, {}, []],
    );
  });

  test('[diff.ignore] per endpoint, set from the environment and --set too', () => {
    const cfg = loadConfig({
      file: configFile(`${DIFF}[diff.ignore]\n"/items/:id" = ["body.updated_at"]\n`),
      env: { HAVOK_DIFF_SECONDARY: '"http://127.0.0.1:3"' },
      set: ['diff.array_order="ignore"'],
    });
    assert.deepEqual(cfg.diff!.ignore, { '/items/:id': ['body.updated_at'] });
    assert.equal(cfg.diff!.secondary, 'http://127.0.0.1:3');
    assert.equal(cfg.diff!.array_order, 'ignore');
  });

  test('every problem names its key; unknown keys are rejected', () => {
    try {
      loadConfig({ file: configFile('[diff]\nprimary = "ftp://x"\nrelative_threshold = 2\nfoo = 1\n') });
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => i.key).sort(), ['diff.candidate', 'diff.foo', 'diff.primary', 'diff.relative_threshold']);
    }
  });

  test('only GET, HEAD and OPTIONS go to diff targets unless allow_writes; the rest is filtered as unsafe_method', () => {
    assert.deepEqual(['GET', 'head', 'OPTIONS', 'POST', 'DELETE'].map((m) => methodAllowed({ allow_writes: false }, m)), [true, true, true, false, false]);
    assert.equal(methodAllowed({ allow_writes: true }, 'POST'), true);
    const reason = filterReason(loadConfig({ file: configFile(DIFF) }));
    assert.deepEqual(
      [reason({ method: 'GET', url: '/a' }), reason({ method: 'POST', url: '/a' }), reason({ method: 'GET', url: 'http://127.0.0.1:1/x' }), reason({ method: 'GET', url: 'http://evil/x' })],
      [undefined, 'unsafe_method', undefined, 'host_not_allowed'],
    );
    assert.equal(filterReason(loadConfig({}))({ method: 'POST', url: '/a' }), undefined, 'without [diff] every method is replayed');
  });

  test('a config-less replayer takes the [diff] section from the status when it validates', () => {
    const section = loadConfig({ file: configFile(DIFF) }).diff!;
    assert.deepEqual(adoptDiff(structuredClone(section)), section);
    assert.equal(adoptDiff(undefined), undefined);
    assert.equal(adoptDiff({ ...section, newer_key: 1 }), undefined, 'a section this build cannot read is not half-applied');
    assert.equal(adoptDiff({ primary: 'x' }), undefined);
  });
});
