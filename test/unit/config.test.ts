import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, loadConfigWithWarnings, requireKeys, toEpochMs, type LoadOptions } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

// From dist/test/unit/ up to the repository.
const DEMO = fileURLToPath(new URL('../../../examples/demo.toml', import.meta.url));

/** Runs loadConfig, expecting a ConfigError; returns its issues. */
function issuesOf(opts: LoadOptions): ReadonlyArray<{ key: string; message: string }> {
  try {
    loadConfig(opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.equal(err.name, 'ConfigError');
    return err.issues;
  }
  assert.fail(`expected a ConfigError for ${JSON.stringify(opts)}`);
}

describe('loadConfig', () => {
  let dir = '';
  let n = 0;
  /** Writes a TOML file in a fresh temp sub-directory; returns its path. */
  async function toml(text: string, sub = `c${n++}`): Promise<string> {
    await mkdir(join(dir, sub), { recursive: true });
    const file = join(dir, sub, 'job.toml');
    await writeFile(file, text);
    return file;
  }
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'havok-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('defaults: no file, no env', () => {
    const cfg = loadConfig({});
    assert.equal(cfg.job.id, 'havok');
    assert.equal(cfg.job.speed, 1);
    assert.equal(cfg.job.rate, 1);
    assert.equal(cfg.job.max_idle_ms, 0, '0 = no idle cap');
    assert.equal(cfg.job.reorder_window_ms, 60_000);
    assert.equal(cfg.fetcher.type, 'file');
    assert.equal(cfg.fetcher.file.format, 'combined');
    assert.equal(cfg.fetcher.file.path, undefined);
    assert.equal(cfg.replayer.target, undefined);
    assert.deepEqual(cfg.replayer.headers, {});
    assert.deepEqual(cfg.replayer.remove_headers, []);
    assert.equal(cfg.router.hash, 'fnv1a');
    assert.equal(cfg.router.missed_heartbeats, 3);
    assert.equal(cfg.nats.url, 'nats://127.0.0.1:4222');
    assert.equal(cfg.reporter.json, resolve(process.cwd(), 'havok-report.json'), 'relative to the cwd without a file');
  });

  test('an empty file gives the defaults', async () => {
    const cfg = loadConfig({ file: await toml('') });
    assert.equal(cfg.job.speed, 1);
  });

  test('the shipped demo config is valid', () => {
    const cfg = loadConfig({ file: DEMO });
    assert.equal(cfg.job.id, 'demo');
    // Sections absent from the file still get their keys' defaults.
    assert.equal(cfg.router.hash, 'fnv1a');
    assert.equal(cfg.router.missed_heartbeats, 3);
    assert.equal(cfg.fetcher.file.fields.ts, 'ts');
    assert.equal(cfg.fetcher.file.path, fileURLToPath(new URL('../../../examples/data/apache_logs', import.meta.url)));
  });

  // [TOML, the key named, a fragment of its message]
  const badRows: Array<[string, string, string, string]> = [
    ['[job]\nsped = 2', 'job.sped', 'unknown key', 'misspelt key'],
    ['[jobs]\nspeed = 2', 'jobs', 'unknown key', 'unknown section'],
    ['[fetcher.file]\npth = "x"', 'fetcher.file.pth', 'unknown key', 'unknown key in a nested table'],
    ['[job]\nspeed = 0', 'job.speed', '', 'speed must be positive'],
    ['[job]\nrate = -1', 'job.rate', '', 'negative rate'],
    ['[job]\nspeed = "fast"', 'job.speed', 'number', 'wrong type'],
    ['[job]\nid = "a.b"', 'job.id', 'subject token', 'id with a dot'],
    ['[fetcher]\ntype = "ftp"', 'fetcher.type', '', 'unknown fetcher type'],
    ['[replayer]\ntarget = "ftp://h"', 'replayer.target', 'http', 'target must be http(s)'],
    ['[router]\nhash = "md5"', 'router.hash', '', 'unknown hash'],
    ['[job]\nbegin = "yesterday"', 'job.begin', 'ISO 8601', 'unparseable time bound'],
  ];
  for (const [text, key, fragment, why] of badRows) {
    test(`rejected — ${why}: ${JSON.stringify(text)} names ${key}`, async () => {
      const issues = issuesOf({ file: await toml(text) });
      const hit = issues.find((i) => i.key === key);
      assert.ok(hit, `${JSON.stringify(text)}: want an issue naming ${key}, got ${JSON.stringify(issues)}`);
      assert.ok(hit.message.includes(fragment), `${key}: message ${JSON.stringify(hit.message)} should mention ${JSON.stringify(fragment)}`);
    });
  }

  test('several errors are reported at once, each naming its key', async () => {
    const file = await toml('[job]\nsped = 2\nrate = -1\n[replayer]\ntarget = "ftp://h"\ntimeout_ms = 0\n');
    const issues = issuesOf({ file });
    const keys = issues.map((i) => i.key).sort();
    assert.deepEqual(keys, ['job.rate', 'job.sped', 'replayer.target', 'replayer.timeout_ms'], JSON.stringify(issues));
    const err = (() => {
      try {
        loadConfig({ file });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    for (const k of keys) assert.ok(err?.message.includes(k), `message lists ${k}: ${err?.message}`);
  });

  test('environment overrides the file: HAVOK_JOB_SPEED, HAVOK_JOB_MAX_IDLE_MS, HAVOK_FETCHER_FILE_PATH', async () => {
    const file = await toml('[job]\nspeed = 5\nmax_idle_ms = 1000\n[fetcher.file]\npath = "a.log"\n');
    const cfg = loadConfig({
      file,
      env: { HAVOK_JOB_SPEED: '2', HAVOK_JOB_MAX_IDLE_MS: '50', HAVOK_FETCHER_FILE_PATH: '/var/log/b.log', PATH: '/bin', HAVOK_LOG_LEVEL: 'warn' },
    });
    assert.equal(cfg.job.speed, 2);
    assert.equal(cfg.job.max_idle_ms, 50);
    assert.equal(cfg.fetcher.file.path, '/var/log/b.log');
  });

  // [env name, value, check]
  const envRows: Array<[string, string, (c: ReturnType<typeof loadConfig>) => unknown, unknown, string]> = [
    ['HAVOK_NATS_URL', 'nats://n1:4222', (c) => c.nats.url, 'nats://n1:4222', 'a string'],
    ['HAVOK_FETCHER_BATCH_SIZE', '100', (c) => c.fetcher.batch_size, 100, 'fetcher_ but not fetcher_file_'],
    ['HAVOK_REPORTER_INFLUXDB_URL', 'http://i:8086', (c) => c.reporter.influxdb?.url, 'http://i:8086', 'a two-level section'],
    ['HAVOK_REPLAYER_REMOVE_HEADERS', '["cookie","x-a"]', (c) => c.replayer.remove_headers, ['cookie', 'x-a'], 'a TOML array'],
    ['HAVOK_JOB_RATE', '1.5', (c) => c.job.rate, 1.5, 'a float'],
  ];
  for (const [name, value, get, want, why] of envRows) {
    test(`env ${name}=${value} (${why})`, () => {
      assert.deepEqual(get(loadConfig({ env: { [name]: value } })), want);
    });
  }

  test('a bad env value names the key and the variable', () => {
    const issues = issuesOf({ env: { HAVOK_JOB_SPEED: 'fast', HAVOK_JOB_SPED: '2' } });
    const speed = issues.find((i) => i.key === 'job.speed');
    assert.ok(speed?.message.includes('HAVOK_JOB_SPEED'), JSON.stringify(issues));
    assert.deepEqual(issues.map((i) => i.key), ['job.speed'], 'an unknown key from the environment is no error');
  });

  test('an unknown key from the environment is a warning naming it, not an error', () => {
    // A wrapper script's own variable, a typo, a variable naming no section.
    const env = { HAVOK_NATS_PORT: '4222', HAVOK_JOB_SPED: '3', HAVOK_REPORTER_INFLUXDB_PORT: '8086', HAVOK_WRAPPER: 'x', HAVOK_JOB_SPEED: '2' };
    const cfg = loadConfig({ env });
    assert.equal(cfg.job.speed, 2, 'the known keys still apply');
    const { warnings } = loadConfigWithWarnings({ env });
    assert.deepEqual(
      warnings.map((w) => w.key).sort(),
      ['HAVOK_WRAPPER', 'job.sped', 'nats.port', 'reporter.influxdb.port'],
    );
    const port = warnings.find((w) => w.key === 'nats.port');
    assert.match(port!.message, /^unknown key \(from HAVOK_NATS_PORT\); ignored$/);
    assert.match(warnings.find((w) => w.key === 'HAVOK_WRAPPER')!.message, /names no config section/);
  });

  test('variables Havok reads elsewhere are not even warned about', () => {
    const { warnings } = loadConfigWithWarnings({ env: { HAVOK_LOG_LEVEL: 'warn', HAVOK_HEALTH_PORT: '9000', HAVOK_MIN_REPLAYERS: '4', HAVOK_ENV_WARNED: '1', HAVOK_CHROMIUM: '/usr/bin/chromium', HAVOK_BENCH_MEM_FILE: '/tmp/m' } });
    assert.deepEqual(warnings, []);
    assert.deepEqual(loadConfigWithWarnings({ env: { HAVOK_JOB_SPEED: '2', PATH: '/bin' } }).warnings, [], 'known keys and other variables: nothing to say');
  });

  test('unknown keys from the file or --set stay errors, also when the environment sets them too', async () => {
    const env = { HAVOK_NATS_PORT: '4222' };
    const viaSet = issuesOf({ env, set: ['nats.port=1'] });
    assert.deepEqual(viaSet.map((i) => [i.key, i.message]), [['nats.port', 'unknown key (from --set nats.port)']]);
    const file = await toml('[nats]\nport = 1\n');
    assert.deepEqual(issuesOf({ file }).map((i) => i.key), ['nats.port']);
    assert.deepEqual(issuesOf({ file, env }).map((i) => i.key), ['nats.port'], 'the file set it first: its error');
    assert.deepEqual(issuesOf({ set: ['job.sped=3'], env }).map((i) => i.key), ['job.sped'], 'other errors are not hidden by an env warning');
  });

  test('--set overrides env and file', async () => {
    const file = await toml('[job]\nspeed = 5\n');
    const cfg = loadConfig({ file, env: { HAVOK_JOB_SPEED: '2' }, set: ['job.speed=3', 'replayer.target=http://t:8080'] });
    assert.equal(cfg.job.speed, 3);
    assert.equal(cfg.replayer.target, 'http://t:8080');
  });

  test('a bad --set names the flag', () => {
    const issues = issuesOf({ set: ['job.speed=-1'] });
    assert.ok(issues.some((i) => i.key === 'job.speed' && i.message.includes('--set job.speed')), JSON.stringify(issues));
    const noEq = issuesOf({ set: ['job.speed'] });
    assert.equal(noEq[0].key, '--set');
    assert.ok(noEq[0].message.includes('"job.speed"'), noEq[0].message);
  });

  describe("the original Havok's keys are accepted", () => {
    test('[analyzer.handler] enable = [...] is the analyzer chain', async () => {
      const cfg = loadConfig({ file: await toml('[analyzer]\nname = "x"\n[analyzer.handler]\nenable = ["combined", "jsonl"]\n') });
      assert.deepEqual(cfg.analyzer.handler, ['combined', 'jsonl']);
    });
    test('[reporter.style] name and [service] are accepted', async () => {
      const cfg = loadConfig({ file: await toml('[reporter.style]\nname = "influxdb"\n[service]\nport = 8080\n[service.x]\ny = 1\n') });
      assert.equal(cfg.reporter.style?.name, 'influxdb');
    });
    const aliasRows: Array<[string, string]> = [
      ['kafka-single-partition', 'kafka'],
      ['concurrency-sls', 'sls'],
      ['kafka', 'kafka'],
    ];
    for (const [given, want] of aliasRows) {
      test(`fetcher type ${given} → ${want}`, async () => {
        const cfg = loadConfig({ file: await toml(`[fetcher]\ntype = "${given}"\n`) });
        assert.equal(cfg.fetcher.type, want);
      });
    }
  });

  describe('relative paths are relative to the config file', () => {
    test('fetcher.file.path, a string', async () => {
      const file = await toml('[fetcher.file]\npath = "logs/a.log"\n', 'rel1/deeper');
      const cfg = loadConfig({ file });
      assert.equal(cfg.fetcher.file.path, join(dir, 'rel1', 'deeper', 'logs', 'a.log'));
    });
    test('fetcher.file.path, a list with an absolute entry kept as is', async () => {
      const file = await toml('[fetcher.file]\npath = ["../x/*.log.gz", "/abs/b.log"]\n', 'rel2');
      const cfg = loadConfig({ file });
      assert.deepEqual(cfg.fetcher.file.path, [join(dir, 'x', '*.log.gz'), '/abs/b.log']);
    });
    test('reporter.json and analyzer.module too', async () => {
      const file = await toml('[reporter]\njson = "out/r.json"\n[analyzer]\nmodule = "./my.js"\n', 'rel3');
      const cfg = loadConfig({ file });
      assert.equal(cfg.reporter.json, join(dir, 'rel3', 'out', 'r.json'));
      assert.equal(cfg.analyzer.module, join(dir, 'rel3', 'my.js'));
    });
  });

  test('bad TOML: the error names the file and the line', async () => {
    const file = await toml('[job]\nspeed = 2\nrate = = 1\n');
    const issues = issuesOf({ file });
    assert.equal(issues.length, 1);
    assert.equal(issues[0].key, '--config');
    assert.match(issues[0].message, /line 3/, issues[0].message);
    assert.ok(issues[0].message.includes(file), issues[0].message);
  });

  test('a missing file is a ConfigError naming it', () => {
    const missing = join(dir, 'nope', 'job.toml');
    const issues = issuesOf({ file: missing });
    assert.equal(issues[0].key, '--config');
    assert.ok(issues[0].message.includes(missing), issues[0].message);
  });

  test('ConfigError: exit code 2, name, and every issue in the message', () => {
    const err = new ConfigError([
      { key: 'job.sped', message: 'unknown key' },
      { key: 'job.rate', message: 'too small' },
    ]);
    assert.equal(err.exitCode, 2);
    assert.equal(err.name, 'ConfigError');
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'job.sped: unknown key\njob.rate: too small');
  });

  test('requireKeys names every missing key', () => {
    const cfg = loadConfig({});
    assert.throws(
      () => requireKeys(cfg, [['replayer.target', cfg.replayer.target], ['fetcher.file.path', cfg.fetcher.file.path], ['job.id', cfg.job.id]]),
      (e: unknown) => e instanceof ConfigError && e.issues.map((i) => i.key).join() === 'replayer.target,fetcher.file.path',
    );
  });

  test('toEpochMs: epoch ms as is, ISO 8601 parsed, absent stays absent', () => {
    assert.equal(toEpochMs(1_431_857_103_000), 1_431_857_103_000);
    assert.equal(toEpochMs('2015-05-17T10:05:03Z'), Date.UTC(2015, 4, 17, 10, 5, 3));
    assert.equal(toEpochMs(undefined), undefined);
  });
});
