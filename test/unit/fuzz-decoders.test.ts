/**
 * Every decoder a byte from outside reaches, fuzzed (issue: no input may throw anything but the
 * module's typed error): the protocol codec (ProtocolError), each built-in analyzer through the
 * chain (never throws: a bad line is a parse error with a reason), the config loader
 * (ConfigError). FUZZ_RUNS cases each (test/support/fuzz.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { buildChain, type ChainResult } from '../../services/fetcher/analyzers/chain.js';
import { loadConfig } from '../../shared/config.js';
import { ConfigError, ProtocolError } from '../../shared/errors.js';
import { decode, decodeOn, KINDS, SUBJECT_KINDS, type MsgKind } from '../../shared/protocol.js';
import { garbageMessage } from '../support/garbage.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS, onlyThrows } from '../support/fuzz.js';
import { APACHE_LOG } from '../support/havok-cli.js';

const runs = { numRuns: FUZZ_RUNS };
const KIND_NAMES = Object.keys(KINDS) as MsgKind[];
const CHANNELS = Object.keys(SUBJECT_KINDS) as Array<keyof typeof SUBJECT_KINDS>;

/** Real lines of the bundled log, and those lines with bytes cut, doubled or replaced. */
const realLines = readFileSync(APACHE_LOG, 'utf8').split('\n').slice(0, 500).filter(Boolean);
const mutatedLine = fc
  .tuple(fc.constantFrom(...realLines), fc.nat(), fc.nat(), fc.string({ maxLength: 8, unit: 'binary' }))
  .map(([line, a, b, ins]) => {
    const i = a % (line.length + 1);
    const j = i + (b % 12);
    return line.slice(0, i) + ins + line.slice(j);
  });
const anyLine = fc.oneof(fc.string({ maxLength: 300, unit: 'binary' }), mutatedLine, fc.json().map((j) => j.slice(0, 300)));

describe('fuzz: protocol decoder', { timeout: FUZZ_TIMEOUT_MS }, () => {
  test('garbage never decodes and throws only ProtocolError, on every channel', () => {
    fc.assert(
      fc.property(garbageMessage, fc.constantFrom(...CHANNELS), (bytes, channel) => onlyThrows(ProtocolError, () => decodeOn(channel, bytes))),
      runs,
    );
  });

  test('arbitrary bytes throw only ProtocolError for any set of expected kinds', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.subarray(KIND_NAMES, { minLength: 1 }), (bytes, kinds) => onlyThrows(ProtocolError, () => decode(bytes, ...kinds))),
      runs,
    );
  });
});

describe('fuzz: analyzers', { timeout: FUZZ_TIMEOUT_MS }, () => {
  const chains = {
    combined: buildChain({ format: 'combined' }),
    common: buildChain({ format: 'common' }),
    jsonl: buildChain({ format: 'jsonl' }),
    nginx: buildChain({ format: 'nginx', logFormat: '$remote_addr [$time_local] "$request" $status $body_bytes_sent "$http_user_agent" $request_body' }),
    regex: buildChain({ format: 'regex', regex: '^(?<method>\\S+) (?<url>\\S+) (?<ts>\\d+)$' }),
    chain_with_hash: buildChain({ format: 'combined', handler: ['jsonl', 'combined', 'common'], hashField: 'user-agent' }),
  };
  const isResult = (r: ChainResult): boolean => (r.ok ? typeof r.rec.url === 'string' && Number.isFinite(r.rec.ts) : r.filtered || typeof r.reason === 'string');
  for (const [name, chain] of Object.entries(chains)) {
    test(`${name}: any line gives a record or a verdict, never an exception`, () => {
      fc.assert(fc.property(anyLine, (line) => isResult(chain.analyze(line))), runs);
    });
  }
});

describe('fuzz: config loader', { timeout: FUZZ_TIMEOUT_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'havok-fuzz-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'job.toml');
  const section = fc.constantFrom('job', 'fetcher', 'fetcher.file', 'fetcher.kafka', 'replayer', 'router', 'nats', 'reporter', 'analyzer', 'nope');
  const key = fc.constantFrom('id', 'rate', 'speed', 'begin', 'end', 'path', 'format', 'target', 'timeout_ms', 'brokers', 'url', 'json', 'hash', 'headers', 'x');
  const value = fc.oneof(fc.integer().map(String), fc.double().map(String), fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)), fc.constantFrom('true', '[]', '{}', '[1, "a"]', '-1', 'nan', '"http://x"'));

  test('any TOML-ish file loads or throws only ConfigError', () => {
    const tomlish = fc.oneof(
      fc.array(fc.tuple(section, key, value), { maxLength: 6 }).map((rows) => rows.map(([s, k, v]) => `[${s}]\n${k} = ${v}`).join('\n')),
      fc.string({ maxLength: 200, unit: 'binary' }),
    );
    fc.assert(
      fc.property(tomlish, (text) => {
        writeFileSync(file, text);
        return onlyThrows(ConfigError, () => loadConfig({ file, env: {} }));
      }),
      { numRuns: Math.min(FUZZ_RUNS, 20_000) },
    );
  });

  test('any --set and HAVOK_ variable loads or throws only ConfigError', () => {
    const setItem = fc.oneof(fc.tuple(section, key, value).map(([s, k, v]) => `${s}.${k}=${v}`), fc.string({ maxLength: 40 }));
    const envVar = fc.tuple(fc.stringMatching(/^HAVOK_[A-Z_]{1,20}$/), fc.string({ maxLength: 20 }));
    fc.assert(
      fc.property(fc.array(setItem, { maxLength: 4 }), fc.array(envVar, { maxLength: 3 }), (set, env) => onlyThrows(ConfigError, () => loadConfig({ set, env: Object.fromEntries(env) }))),
      runs,
    );
  });
});
