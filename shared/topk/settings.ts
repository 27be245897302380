/**
 * `[reporter.top]`: the heavy-hitter summaries every replayer keeps and the reporter merges, and
 * the request samples. Its own schema, composed into shared/config.ts.
 */
import { z } from 'zod';

export const DIMENSIONS = ['route', 'url', 'host', 'status', 'key'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export const topSchema = z
  .strictObject({
    /**
     * Counters per dimension and replayer (Space-Saving). An entry's count is within N/k of the
     * truth (N: requests of that replayer), and exact when its bound is 0. Memory: k entries per
     * dimension, whatever the number of distinct keys.
     */
    k: z.number().int().min(10).max(10_000).default(200),
    /** The report lists this many entries per dimension (the rest is its `other` row). */
    show: z.number().int().min(1).max(1000).default(100),
    /** Entries per dimension (route, url, host) sent with a latency histogram (the largest). 0 = none. */
    histograms: z.number().int().min(0).max(1000).default(20),
    /** Dimensions summarised: route template, URL path, host, status (or error kind), hash_field key. */
    dimensions: z.array(z.enum(DIMENSIONS)).default([...DIMENSIONS]),
    /** Samples kept per group (slowest overall, per error kind, per status class ≥ 400). 0 = none. */
    samples: z.number().int().min(0).max(1000).default(10),
    /**
     * Route templates: a path segment that took more than this many distinct values under the
     * same parent becomes `:id`.
     */
    fold_after: z.number().int().min(2).max(10_000).default(6),
  })
  .prefault({});

export type TopSettings = z.output<typeof topSchema>;
