/**
 * Job config: TOML file, then `HAVOK_<SECTION>_<KEY>` environment variables, then `--set
 * key=value` flags, validated together. Every problem is collected and reported at once, each
 * naming its key (k6 style); unknown keys are rejected, the original Havok's keys are accepted as
 * aliases. A bad config is a ConfigError (exit 2).
 *
 * The sources' sections are not defined here: each source kind brings the schema of its
 * `[fetcher.<type>]` (services/fetcher/sources/<type>/schema.ts) and the registry lists the
 * kinds (services/fetcher/sources/registry.ts); this module composes `[fetcher]` from that list,
 * so a new source needs no change here. The registry and what it imports never import this
 * module back (they take their section as plain data): the config stays a leaf of the import
 * graph for every actor, and `npm run check:cycles` finds no cycle.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { SAFE_TOKEN } from './protocol.js';
import { SOURCE_ALIASES, SOURCES, type SourceType } from '../services/fetcher/sources/registry.js';
import { traceSchema } from './trace/settings.js';
import { topSchema } from './topk/settings.js';
import type { SourceKind } from '../services/fetcher/sources/types.js';
import { diffSchema } from '../services/diff/settings.js';
import { gatewaySchema, resolveGatewayPaths } from '../services/gateway/settings.js';

/** Log time bound: epoch ms, or an ISO 8601 date-time string. */
const logTime = z.union([
  z.number().int().nonnegative(),
  z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: 'expected epoch ms or an ISO 8601 date-time' }),
]);

export { ANALYZERS, NGINX_COMBINED, type AnalyzerName } from '../services/fetcher/analyzers/names.js';

type Sources = typeof SOURCES;
const SOURCE_TYPES = Object.keys(SOURCES) as [SourceType, ...SourceType[]];

/**
 * `[fetcher.<type>]` for every registered kind, each by its own schema. Every section is checked
 * whatever the type (a misspelt key in an unused section is still an error), and may be absent.
 */
const sourceSections = Object.fromEntries(SOURCE_TYPES.map((t) => [t, (SOURCES[t] as SourceKind).schema.prefault({})])) as {
  [T in SourceType]: z.ZodPrefault<Sources[T]['schema']>;
};

const headerMap = z.record(z.string(), z.string());

// Sections use `.prefault({})`, not `.default({})`: zod 4 returns a default as it is, unparsed,
// so an absent section would come out as `{}` without its own keys' defaults.
const schema = z.strictObject({
  job: z
    .strictObject({
      id: z.string().regex(SAFE_TOKEN, 'letters, digits, "_" and "-" only (it is a NATS subject token)').default('havok'),
      /** Copies of each record: 1.5 = every other record twice. 0 = send nothing. */
      rate: z.number().nonnegative().max(1000).default(1),
      /** Log-time speed-up: 2 = twice as fast as recorded. */
      speed: z.number().positive().max(1e9).default(1),
      begin: logTime.optional(),
      end: logTime.optional(),
      /** Longest wall-clock wait between two consecutive records, after speed. 0 = no cap. */
      max_idle_ms: z.number().nonnegative().default(0),
      /** How far back in log time a record may arrive after a later one and still be ordered. */
      reorder_window_ms: z.number().int().nonnegative().default(60_000),
      /** Records leave the time wheel this long before they are due. */
      lead_ms: z.number().int().min(1).max(10_000).default(50),
      /** Wall-clock pause between the job's start and its first due time (connections warm up). */
      warmup_ms: z.number().int().nonnegative().default(500),
      /** Follow mode (`[fetcher.jetstream] follow`): each record is due at its own ts + delay_ms, ms. */
      delay_ms: z.number().int().nonnegative().default(5000),
      /** The time wheel waits for this many replayers before the clock starts. */
      min_replayers: z.number().int().min(0).default(1),
      /**
       * Records routed to replayers but not yet sent, beyond which the time wheel holds back
       * (flow control for untimed or overloaded replays). 0 = no limit.
       */
      max_backlog: z.number().int().nonnegative().default(20_000),
      /** Upper bound on records held by the time wheel (re-order buffer); bounds its memory. */
      max_buffer: z.number().int().min(100).default(50_000),
    })
    .prefault({}),
  fetcher: z
    .strictObject({
      type: z
        .string()
        .default('file')
        .transform((t) => SOURCE_ALIASES[t] ?? t)
        .pipe(z.enum(SOURCE_TYPES)),
      /** Records per message on the bus. */
      batch_size: z.number().int().min(1).max(10_000).default(500),
      /** Unconsumed batches the job's stream holds before the fetcher waits (backpressure). */
      max_pending_batches: z.number().int().min(1).default(64),
      ...sourceSections,
    })
    .prefault({}),
  analyzer: z
    .strictObject({
      /** Analyzer chain, first match wins. Default: the file format. */
      handler: z
        .union([
          z.array(z.string()),
          // The original Havok's [analyzer.handler] table: enable = [...].
          z.strictObject({ enable: z.array(z.string()).default([]), plugin: z.array(z.string()).optional() }).transform((h) => h.enable),
        ])
        .optional(),
      /** JS module exporting analyze functions, tried before the built-in chain. */
      module: z.string().optional(),
      /** Record field (or header) whose value keys sticky routing. */
      hash_field: z.string().optional(),
      /** Original Havok key; kept for compatibility, has no effect. */
      name: z.string().optional(),
    })
    .prefault({}),
  replayer: z
    .strictObject({
      /** Origin requests are sent to; the log's own host is replaced. */
      target: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
      timeout_ms: z.number().int().positive().default(10_000),
      /** Requests in flight per replayer; records due beyond it wait (as lateness) until a slot frees; only a queue over 200,000 records drops as `overload`. */
      max_inflight: z.number().int().positive().default(1024),
      /** Keep-alive connections per replayer. */
      connections: z.number().int().positive().default(64),
      headers: headerMap.default({}),
      remove_headers: z.array(z.string()).default([]),
      heartbeat_ms: z.number().int().positive().default(1000),
      /**
       * A replayer that has had no answer from NATS for this long, or whose beat the router has
       * not seen for this long, stops sending what it holds (`fenced`) and rejoins as a new life
       * once the router has handed its records due from then on to live replayers. Shorter =
       * fewer records lost with a cut-off replayer; too short fences a replayer on a slow
       * network. Below the eviction time (heartbeat_ms × missed_heartbeats), or nothing is
       * handed over.
       */
      fence_ms: z.number().int().positive().default(250),
      /** A record more than this late is dropped as `late` instead of sent. 0 = never. */
      max_lateness_ms: z.number().int().nonnegative().default(0),
      /**
       * Log hosts whose records may be replayed when a log line has an absolute URL
       * (`GET http://host/x`). Requests always go to `target`; a record naming any other host is
       * filtered (reason `host_not_allowed`), so a log can never steer traffic elsewhere.
       * Default: the target's own host. `["*"]` allows every host.
       */
      allow_hosts: z.array(z.string().min(1)).optional(),
      trace: traceSchema,
    })
    .prefault({}),
  router: z
    .strictObject({
      hash: z.enum(['fnv1a', 'round_robin']).default('fnv1a'),
      /** A replayer missing this many heartbeats is out. */
      missed_heartbeats: z.number().int().positive().default(3),
    })
    .prefault({}),
  nats: z
    .strictObject({
      url: z.string().default('nats://127.0.0.1:4222'),
      user: z.string().optional(),
      password: z.string().optional(),
      token: z.string().optional(),
      creds: z.string().optional(),
      tls: z.union([z.boolean(), z.strictObject({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional() })]).optional(),
      /** JetStream replicas of the job's streams: 3 on a 3-node cluster survives losing a node. */
      stream_replicas: z.number().int().min(1).max(5).default(1),
    })
    .prefault({}),
  reporter: z
    .strictObject({
      /** End report path (JSON). */
      json: z.string().default('havok-report.json'),
      interval_ms: z.number().int().positive().default(1000),
      /** After the last record is due, how long to wait for replayers' final counts. */
      settle_ms: z.number().int().positive().default(15_000),
      /** Warn (and mark the progress line BEHIND) when an interval's lateness p99 passes this, ms; 0 = off. */
      lateness_warn_ms: z.number().nonnegative().default(100),
      influxdb: z
        .strictObject({
          url: z.string().optional(),
          database: z.string().optional(),
          user: z.string().optional(),
          password: z.string().optional(),
        })
        .optional(),
      /** Original Havok key; kept for compatibility. */
      style: z.strictObject({ name: z.string() }).optional(),
      /** Link of a sample's trace in the HTML report, `{trace_id}` replaced (e.g. `http://jaeger:16686/trace/{trace_id}`). */
      trace_url: z.string().optional(),
      top: topSchema,
    })
    .prefault({}),
  /** Response comparison against primary, candidate and secondary targets (services/diff/settings.ts). */
  diff: diffSchema.optional(),
  /** `havok gateway`: see services/gateway/settings.ts. */
  gateway: gatewaySchema.prefault({}),
  /** Original Havok key (service ports); kept for compatibility, has no effect. */
  service: z.record(z.string(), z.unknown()).optional(),
});

export type HavokConfig = z.output<typeof schema>;

/** Sections an environment variable may address, nested ones first so `fetcher_file` wins. */
const ENV_SECTIONS = ['reporter.influxdb', 'reporter.top', 'replayer.trace', ...SOURCE_TYPES.map((t) => `fetcher.${t}`), 'job', 'fetcher', 'analyzer', 'replayer', 'router', 'nats', 'reporter', 'diff'];

export interface LoadOptions {
  /** TOML file; absent = defaults only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** `key.path=value` overrides, applied last. */
  set?: string[];
}

/** A problem or a warning, naming its key (or, for a stray variable, the variable). */
export interface ConfigIssue {
  key: string;
  message: string;
}

/**
 * Set by the CLI once it has printed the environment's warnings, so the actors `havok local`
 * starts (same environment) do not print them again.
 */
export const ENV_WARNED = 'HAVOK_ENV_WARNED';

/**
 * `HAVOK_` variables that are not config keys: read by the CLI (log level, health port), by
 * docker-compose.yml (HAVOK_MIN_REPLAYERS) or by the tests and benchmarks. Never warned about.
 */
const NOT_CONFIG_ENV = new Set(['HAVOK_LOG_LEVEL', 'HAVOK_HEALTH_PORT', 'HAVOK_MIN_REPLAYERS', 'HAVOK_CHROMIUM', 'HAVOK_BENCH_MEM_FILE', 'HAVOK_CONSOLE_TOKEN', ENV_WARNED]);

/** Reads, merges and validates; throws ConfigError listing every problem. */
export function loadConfig(opts: LoadOptions): HavokConfig {
  return loadConfigWithWarnings(opts).config;
}

/**
 * loadConfig, with what it ignored: an unknown key that only the environment set (a wrapper's
 * own `HAVOK_NATS_PORT`, a typo) is a warning naming it, not an error, since the environment
 * holds more than this job's config. Unknown keys from the file or `--set` stay errors.
 */
export function loadConfigWithWarnings(opts: LoadOptions): { config: HavokConfig; warnings: ConfigIssue[] } {
  let raw: Record<string, unknown> = {};
  const baseDir = opts.file ? dirname(resolve(opts.file)) : process.cwd();
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError([{ key: '--config', message: `cannot read ${opts.file}: ${(err as Error).message}` }]);
    }
    try {
      raw = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : '';
      throw new ConfigError([{ key: '--config', message: `${opts.file} is not valid TOML${where}: ${(err as Error).message.split('\n')[0]}` }]);
    }
  }
  const warnings: ConfigIssue[] = [];
  const origins = new Map<string, string>();
  /** Keys set by the environment alone (not by the file, not by --set). */
  const envOnly = new Set<string>();
  for (const [name, value] of Object.entries(opts.env ?? {})) {
    if (!name.startsWith('HAVOK_') || value === undefined || NOT_CONFIG_ENV.has(name)) continue;
    const path = envPath(name);
    if (!path) {
      warnings.push({ key: name, message: 'names no config section (HAVOK_<SECTION>_<KEY>, e.g. HAVOK_JOB_SPEED); ignored' });
      continue;
    }
    if (getPath(raw, path) === undefined) envOnly.add(path);
    setPath(raw, path, parseScalar(value));
    origins.set(path, name);
  }
  for (const item of opts.set ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ConfigError([{ key: '--set', message: `expected key.path=value, got ${JSON.stringify(item)}` }]);
    const path = item.slice(0, eq).trim();
    setPath(raw, path, parseScalar(item.slice(eq + 1)));
    origins.set(path, `--set ${path}`);
    envOnly.delete(path);
  }
  let parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error.issues, origins);
    const ignored = problems.filter((p) => p.unknown && envOnly.has(p.key));
    if (ignored.length < problems.length) throw new ConfigError(problems.filter((p) => !ignored.includes(p)));
    for (const p of ignored) {
      deletePath(raw, p.key);
      warnings.push({ key: p.key, message: `${p.message}; ignored` });
    }
    parsed = schema.safeParse(raw);
    if (!parsed.success) throw new ConfigError(describeIssues(parsed.error.issues, origins));
  }
  return { config: resolvePaths(parsed.data, baseDir), warnings };
}

/** zod's issues as keys and messages, naming where a key came from; `unknown` = not a key. */
function describeIssues(issues: readonly z.core.$ZodIssue[], origins: ReadonlyMap<string, string>): Array<ConfigIssue & { unknown: boolean }> {
  return issues.flatMap((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys.map((k) => {
      const key = [...issue.path, ...(k === undefined ? [] : [k])].join('.');
      const origin = origins.get(key);
      const message = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
      return { key: key || '(top level)', message: origin ? `${message} (from ${origin})` : message, unknown: issue.code === 'unrecognized_keys' };
    });
  });
}

/** Checks that the keys an actor needs are present (exit 2 naming the key otherwise). */
export function requireKeys(cfg: HavokConfig, keys: Array<[string, unknown]>): void {
  const missing = keys.filter(([, v]) => v === undefined || v === '').map(([key]) => ({ key, message: 'required' }));
  if (missing.length) throw new ConfigError(missing);
}

/** Relative paths in the file are relative to the file, so a config works from any cwd. */
function resolvePaths(cfg: HavokConfig, baseDir: string): HavokConfig {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  for (const t of SOURCE_TYPES) (SOURCES[t] as SourceKind).resolvePaths?.(cfg.fetcher[t], abs);
  if (cfg.analyzer.module) cfg.analyzer.module = abs(cfg.analyzer.module);
  cfg.reporter.json = abs(cfg.reporter.json);
  resolveGatewayPaths(cfg.gateway, abs);
  return cfg;
}

function envPath(name: string): string | undefined {
  const rest = name.slice('HAVOK_'.length).toLowerCase();
  for (const section of ENV_SECTIONS) {
    const prefix = section.replace('.', '_') + '_';
    if (rest.startsWith(prefix) && rest.length > prefix.length) return `${section}.${rest.slice(prefix.length)}`;
  }
  return undefined;
}

/** `2` → 2, `true` → true, `["a","b"]` → array; anything else stays a string. */
function parseScalar(text: string): unknown {
  try {
    return (parseToml(`v = ${text}`) as { v: unknown }).v;
  } catch {
    return text;
  }
}

function getPath(target: Record<string, unknown>, path: string): unknown {
  let node: unknown = target;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function deletePath(target: Record<string, unknown>, path: string): void {
  const parts = path.split('.');
  const parent = parts.length === 1 ? target : getPath(target, parts.slice(0, -1).join('.'));
  if (typeof parent === 'object' && parent !== null) delete (parent as Record<string, unknown>)[parts[parts.length - 1]];
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

/** Log-time bound as epoch ms. */
export function toEpochMs(t: number | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  return typeof t === 'number' ? t : Date.parse(t);
}
