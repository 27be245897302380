/**
 * `[diff]`: compare each record's responses from a primary, a candidate and (optionally) a
 * secondary target. The schema lives here and is composed into the job config by
 * shared/config.ts; this module imports nothing of the config back (it stays a leaf).
 */
import { z } from 'zod';

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

/** Response headers never compared: they differ between any two servers or any two answers. */
export const DEFAULT_IGNORED_HEADERS = ['date', 'server', 'x-request-id', 'set-cookie', 'age', 'etag', 'content-length', 'connection', 'keep-alive', 'transfer-encoding'];

/** Methods sent to diff targets unless `allow_writes` is set: they change nothing on a target. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export const diffSchema = z.strictObject({
  /** The build in production: the reference. */
  primary: httpUrl,
  /** The build under test. */
  candidate: httpUrl,
  /** A second instance of the primary's build; differences between the two are noise. Optional but recommended. */
  secondary: httpUrl.optional(),
  /** Response header names not compared, added to DEFAULT_IGNORED_HEADERS. */
  ignore_headers: z.array(z.string().min(1)).default([]),
  /** `strict`: arrays compared by index; `ignore`: as multisets (order never a difference). */
  array_order: z.enum(['strict', 'ignore']).default('strict'),
  /** A field is different only if |raw − noise| / (raw + noise) is at least this (0..1). */
  relative_threshold: z.number().min(0).max(1).default(0.2),
  /** … and |raw − noise| / the endpoint's compared records at least this (0..1; 0.0003 = 0.03%). */
  absolute_threshold: z.number().min(0).max(1).default(0.0003),
  /** Example records kept per endpoint and field. */
  examples: z.number().int().min(0).max(100).default(5),
  /** Bytes of each (decoded) body compared; the rest is counted as truncated. */
  max_body_bytes: z.number().int().min(1).default(1_048_576),
  /** Send methods other than GET, HEAD, OPTIONS too. Unsafe unless the targets are isolated copies. */
  allow_writes: z.boolean().default(false),
  /** `havok local` exits 3 when a field is reported as different. */
  fail_on_difference: z.boolean().default(false),
  /** Numbers within this relative difference are equal (0.001 = 0.1%; 0 = exact). */
  number_tolerance: z.number().min(0).default(0),
  /** Per endpoint (route template), field path prefixes never reported: `"/items/:id" = ["body.updated_at"]`. `"*"` = every endpoint. */
  ignore: z.record(z.string(), z.array(z.string().min(1))).default({}),
});

export type DiffSettings = z.output<typeof diffSchema>;

/** The three targets, in the order responses are kept. */
export const TARGETS = ['primary', 'candidate', 'secondary'] as const;
export type TargetName = (typeof TARGETS)[number];

/**
 * The `[diff]` section a replayer started without a config takes from the job's status; undefined
 * when there is none or it does not validate here (a newer sender's keys).
 */
export function adoptDiff(section: unknown): DiffSettings | undefined {
  if (section === undefined) return undefined;
  const parsed = diffSchema.safeParse(section);
  return parsed.success ? parsed.data : undefined;
}

/** Whether a record of `method` may be sent to the diff targets. Pure. */
export function methodAllowed(settings: Pick<DiffSettings, 'allow_writes'>, method: string): boolean {
  return settings.allow_writes || SAFE_METHODS.has(method.toUpperCase());
}
