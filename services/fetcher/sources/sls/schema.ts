/** `[fetcher.sls]`: an Aliyun SLS logstore, read with GetLogs over `[job] begin`–`end` (both required). */
import { z } from 'zod';
import { ANALYZERS } from '../../analyzers/names.js';
import { jsonlFields } from '../file/schema.js';

export const slsSchema = z.strictObject({
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
});

export type SlsSection = z.output<typeof slsSchema>;
