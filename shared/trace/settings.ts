/**
 * `[replayer.trace]`: the trace context each replayed request carries. Its own schema, composed
 * into shared/config.ts. Default off: a replay adds no header unless asked.
 */
import { z } from 'zod';

export const PROPAGATIONS = ['off', 'w3c', 'b3', 'b3multi', 'jaeger'] as const;
export type Propagation = (typeof PROPAGATIONS)[number];

/** Where `keep_original` looks for the log's trace id, first found wins (headers, any case). */
export const DEFAULT_ORIGINAL_FIELDS = ['traceparent', 'uber-trace-id', 'b3', 'x-b3-traceid', 'x-trace-id', 'traceid', 'trace_id'];

export const traceSchema = z
  .strictObject({
    /** Header format of the trace context: W3C `traceparent`, B3 single / multi, Jaeger `uber-trace-id`; off = none. */
    propagation: z.enum(PROPAGATIONS).default('off'),
    /** The sampled flag sent with every context (W3C flags 01/00, B3 `1`/`0`, Jaeger flags). */
    sampled: z.boolean().default(true),
    /**
     * Reuse the trace id the record carries (first of `original_fields` present) and start a new
     * span under it, so the replay shows up beside the original call. A record without one gets
     * a fresh trace id.
     */
    keep_original: z.boolean().default(false),
    /** Record headers (any case) holding the original trace id; `key` = the record's `hash_field` value. */
    original_fields: z.array(z.string().min(1)).default(DEFAULT_ORIGINAL_FIELDS),
    /** W3C only: send `tracestate: havok=<job id>`. */
    tracestate: z.boolean().default(true),
    /**
     * Extra headers from templates, for in-house schemes: `{trace_id}`, `{span_id}`,
     * `{parent_id}` (the original span, or empty), `{sampled}` (1/0), `{job}`.
     * E.g. `{ "x-rpc-id" = "0", "x-trace-id" = "{trace_id}" }`. Set even with propagation off.
     */
    headers: z.record(z.string().min(1), z.string()).default({}),
  })
  .prefault({});

export type TraceSettings = z.output<typeof traceSchema>;
