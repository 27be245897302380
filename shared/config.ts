/**
 * Job config: TOML file, then `HAVOK_<SECTION>_<KEY>` environment variables, then `--set
 * key=value` flags, validated together. Every problem is collected and reported at once, each
 * naming its key (k6 style); unknown keys are rejected, the original Havok's keys are accepted as
 * aliases. A bad config is a ConfigError (exit 2).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { logRegexProblem } from './log-regex.js';
import { SAFE_TOKEN } from './protocol.js';

/** Log time bound: epoch ms, or an ISO 8601 date-time string. */
const logTime = z.union([
  z.number().int().nonnegative(),
  z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: 'expected epoch ms or an ISO 8601 date-time' }),
]);

const FETCHER_TYPES = ['file', 'kafka', 'sls'] as const;
/** The original Havok's fetcher type names. */
const FETCHER_ALIASES: Record<string, (typeof FETCHER_TYPES)[number]> = {
  'kafka-single-partition': 'kafka',
  'concurrency-sls': 'sls',
};

export const ANALYZERS = ['combined', 'common', 'jsonl', 'nginx', 'regex'] as const;
export type AnalyzerName = (typeof ANALYZERS)[number];

/** nginx's predefined `combined` log_format: the default of `fetcher.file.log_format`. */
export const NGINX_COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

const headerMap = z.record(z.string(), z.string());

const jsonlFields = z.strictObject({
  ts: z.string().default('ts'),
  method: z.string().default('method'),
  url: z.string().default('url'),
  headers: z.string().default('headers'),
  body: z.string().default('body'),
});

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
        .transform((t) => FETCHER_ALIASES[t] ?? t)
        .pipe(z.enum(FETCHER_TYPES)),
      /** Records per message on the bus. */
      batch_size: z.number().int().min(1).max(10_000).default(500),
      /** Unconsumed batches the job's stream holds before the fetcher waits (backpressure). */
      max_pending_batches: z.number().int().min(1).default(64),
      file: z
        .strictObject({
          /** A path, a glob, or a list of them; `.gz` files are decompressed. */
          path: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
          format: z.enum(ANALYZERS).default('combined'),
          fields: jsonlFields.prefault({}),
          /** nginx `log_format` string read by `format = "nginx"`. */
          log_format: z.string().min(1).default(NGINX_COMBINED),
          /** JS regex with named groups ts, method, url (body, header_<name>…) for `format = "regex"`. */
          regex: z
            .string()
            .optional()
            .superRefine((re, ctx) => {
              const problem = re === undefined ? undefined : logRegexProblem(re);
              if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
            }),
          /** How logged bodies are written: the text itself, or base64 of the bytes. */
          body_encoding: z.enum(['raw', 'base64']).default('raw'),
        })
        .superRefine((f, ctx) => {
          if (f.format === 'regex' && f.regex === undefined) ctx.addIssue({ code: 'custom', path: ['regex'], message: 'required when format = "regex"' });
        })
        .prefault({}),
      /**
       * Kafka topic, read with kafkajs from a start to an end offset per partition (a bounded
       * replay: `[job] end` by timestamp, else the high watermark when the job starts). No
       * offsets are committed: the consumer group is a throwaway one of the fetcher's own.
       */
      kafka: z
        .strictObject({
          /** Bootstrap brokers, `host:port`: a list, or one comma-separated string (handy in env). */
          brokers: z
            .union([z.string(), z.array(z.string())])
            .transform((b) => (typeof b === 'string' ? b.split(',') : b).map((s) => s.trim()).filter((s) => s.length > 0))
            .default([]),
          topic: z.string().min(1).optional(),
          /** Partitions to read, each its own source; absent = all of the topic's. */
          partitions: z.array(z.number().int().nonnegative()).min(1).optional(),
          /**
           * Where each partition starts: `oldest` (`earliest`), `newest` (`latest`), an offset, or a
           * negative number: that many records before the end. Absent: the first offset at or after
           * `[job] begin` (by message timestamp) when begin is set, else `oldest`.
           */
          offset: z
            .union([z.number().int(), z.enum(['oldest', 'newest', 'earliest', 'latest'])], { error: 'expected "oldest", "newest" or an offset (negative: that many records before the end)' })
            .optional(),
          client_id: z.string().min(1).default('havok'),
          /** TLS: `true` (system CAs) or `{ ca, cert, key }` PEM file paths and options. */
          ssl: z
            .union([
              z.boolean(),
              z.strictObject({
                ca: z.string().optional(),
                cert: z.string().optional(),
                key: z.string().optional(),
                passphrase: z.string().optional(),
                servername: z.string().optional(),
                reject_unauthorized: z.boolean().default(true),
              }),
            ])
            .optional(),
          sasl: z
            .strictObject({
              mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
              username: z.string().min(1),
              password: z.string(),
            })
            .optional(),
          /** Connection attempts after the first failed one before the fetcher gives up (exit 1). */
          retries: z.number().int().nonnegative().default(5),
          /** First retry delay; doubled per retry up to `backoff_max_ms`. */
          backoff_ms: z.number().int().positive().default(300),
          backoff_max_ms: z.number().int().positive().default(10_000),
          connect_timeout_ms: z.number().int().positive().default(3_000),
          request_timeout_ms: z.number().int().positive().default(30_000),
          /** Bytes fetched per partition and request; a partition holds at most two such batches. */
          max_bytes_per_partition: z.number().int().min(1024).default(1 << 20),
          /** Analyzer of the message values (one log line each). Absent: `[fetcher.file] format`. */
          format: z.enum(ANALYZERS).optional(),
        })
        .prefault({}),
      /** Aliyun SLS logstore, read with GetLogs over `[job] begin`–`end` (both required). */
      sls: z
        .strictObject({
          /** Absent = env ALIYUN_ACCESS_KEY_ID, then ALIBABA_CLOUD_ACCESS_KEY_ID. */
          access_key_id: z.string().optional(),
          /** Absent = env ALIYUN_ACCESS_KEY_SECRET, then ALIBABA_CLOUD_ACCESS_KEY_SECRET. */
          access_key_secret: z.string().optional(),
          /** STS token for temporary keys. Absent = env ALIBABA_CLOUD_SECURITY_TOKEN, if set. */
          security_token: z.string().optional(),
          /** `cn-hangzhou` → https://<project>.cn-hangzhou.log.aliyuncs.com; `endpoint` wins. */
          region: z.string().optional(),
          /** `cn-hangzhou.log.aliyuncs.com` (https) or a URL: `http://host:port`, `https://…`. */
          endpoint: z.string().min(1).optional(),
          project: z.string().optional(),
          logstore: z.string().optional(),
          /** SLS search statement (no `| select` analytics part). Absent = every log (`*`). */
          expression: z.string().optional(),
          /** GetLogs `topic`. */
          topic: z.string().optional(),
          /** Windows fetched at the same time, ahead of the one being replayed. */
          concurrency: z.number().int().positive().max(64).default(4),
          /** Logs held ahead of the replay at most (fetched, not yet replayed); the window being replayed comes on top. */
          'pre-download': z.number().int().positive().default(100_000),
          /** Length of a time window, seconds: the unit of fetching and of re-sorting. */
          window_s: z.number().int().positive().default(60),
          /** Logs per GetLogs request (SLS allows 1–100); a shorter page ends the window. */
          page_size: z.number().int().min(1).max(100).default(100),
          /** Retries of one request on network errors, HTTP 5xx/429 and incomplete results. */
          retries: z.number().int().nonnegative().default(5),
          /** First retry delay; doubled per retry (with jitter), up to `backoff_max_ms`. */
          backoff_ms: z.number().int().nonnegative().default(500),
          backoff_max_ms: z.number().int().nonnegative().default(30_000),
          /** Connect and read timeout of one request. */
          timeout_ms: z.number().int().positive().default(30_000),
          /** Field holding the raw log line (e.g. `content`); absent = the whole log as a JSON object. */
          line_field: z.string().min(1).optional(),
          /** Analyzer of the lines. Absent: `jsonl` without `line_field`, `[fetcher.file] format` with it. */
          format: z.enum(ANALYZERS).optional(),
          /** `jsonl` field names in an SLS log; the time defaults to SLS's `__time__` (seconds). */
          fields: jsonlFields.extend({ ts: z.string().default('__time__') }).prefault({}),
        })
        .prefault({}),
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
      /** Requests in flight per replayer; beyond it records are dropped as `overload`. */
      max_inflight: z.number().int().positive().default(1024),
      /** Keep-alive connections per replayer. */
      connections: z.number().int().positive().default(64),
      headers: headerMap.default({}),
      remove_headers: z.array(z.string()).default([]),
      heartbeat_ms: z.number().int().positive().default(1000),
      /** A record more than this late is dropped as `late` instead of sent. 0 = never. */
      max_lateness_ms: z.number().int().nonnegative().default(0),
      /**
       * Log hosts whose records may be replayed when a log line has an absolute URL
       * (`GET http://host/x`). Requests always go to `target`; a record naming any other host is
       * filtered (reason `host_not_allowed`), so a log can never steer traffic elsewhere.
       * Default: the target's own host. `["*"]` allows every host.
       */
      allow_hosts: z.array(z.string().min(1)).optional(),
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
    })
    .prefault({}),
  /** Original Havok key (service ports); kept for compatibility, has no effect. */
  service: z.record(z.string(), z.unknown()).optional(),
});

export type HavokConfig = z.output<typeof schema>;

/** Sections an environment variable may address, longest first so `fetcher_file` wins. */
const ENV_SECTIONS = ['reporter.influxdb', 'fetcher.file', 'fetcher.kafka', 'fetcher.sls', 'job', 'fetcher', 'analyzer', 'replayer', 'router', 'nats', 'reporter'];

export interface LoadOptions {
  /** TOML file; absent = defaults only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** `key.path=value` overrides, applied last. */
  set?: string[];
}

/** Reads, merges and validates; throws ConfigError listing every problem. */
export function loadConfig(opts: LoadOptions): HavokConfig {
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
  const origins = new Map<string, string>();
  for (const [name, value] of Object.entries(opts.env ?? {})) {
    if (!name.startsWith('HAVOK_') || value === undefined) continue;
    const path = envPath(name);
    if (!path) continue;
    setPath(raw, path, parseScalar(value));
    origins.set(path, name);
  }
  for (const item of opts.set ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ConfigError([{ key: '--set', message: `expected key.path=value, got ${JSON.stringify(item)}` }]);
    const path = item.slice(0, eq).trim();
    setPath(raw, path, parseScalar(item.slice(eq + 1)));
    origins.set(path, `--set ${path}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
        return keys.map((k) => {
          const key = [...issue.path, ...(k === undefined ? [] : [k])].join('.');
          const origin = origins.get(key);
          const message = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
          return { key: key || '(top level)', message: origin ? `${message} (from ${origin})` : message };
        });
      }).flat(),
    );
  }
  return resolvePaths(parsed.data, baseDir);
}

/** Checks that the keys an actor needs are present (exit 2 naming the key otherwise). */
export function requireKeys(cfg: HavokConfig, keys: Array<[string, unknown]>): void {
  const missing = keys.filter(([, v]) => v === undefined || v === '').map(([key]) => ({ key, message: 'required' }));
  if (missing.length) throw new ConfigError(missing);
}

/** Relative paths in the file are relative to the file, so a config works from any cwd. */
function resolvePaths(cfg: HavokConfig, baseDir: string): HavokConfig {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const path = cfg.fetcher.file.path;
  if (path !== undefined) cfg.fetcher.file.path = Array.isArray(path) ? path.map(abs) : abs(path);
  if (cfg.analyzer.module) cfg.analyzer.module = abs(cfg.analyzer.module);
  const ssl = cfg.fetcher.kafka.ssl;
  if (typeof ssl === 'object') for (const k of ['ca', 'cert', 'key'] as const) if (ssl[k]) ssl[k] = abs(ssl[k]);
  cfg.reporter.json = abs(cfg.reporter.json);
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
