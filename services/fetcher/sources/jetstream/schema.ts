/**
 * `[fetcher.jetstream]`: replays a repo recorded by `havok gateway` from the JetStream traffic
 * stream (the contract in shared/protocol.ts), a bounded replay: from `[job] begin` by stored
 * time (a JetStream start time, no scan from the beginning) to what the stream held when the
 * job opened it, or `[job] end` by stored time plus `end_slack_ms`; or, with `follow`, an endless
 * one that replays what the gateway stores while the job runs.
 */
import { z } from 'zod';
import { SAFE_TOKEN, TRAFFIC_STREAM } from '../../../../shared/protocol.js';
import { filterTableSchema } from '../../../traffic/filter.js';

export const jetstreamSchema = z.strictObject({
  /** The gateway repo to replay (`[gateway.repos.<repo>]`). Required for this type. */
  repo: z.string().regex(SAFE_TOKEN, 'letters, digits, "_" and "-" only').optional(),
  /** The traffic stream's name (`[gateway.producers.<label>] stream`). */
  stream: z.string().regex(SAFE_TOKEN, 'letters, digits, "_" and "-" only').default(TRAFFIC_STREAM),
  /**
   * With `[job] end`, messages stored up to this long after it are still read, ms: a line's own
   * `ts` may be earlier than the time the gateway received it (a sender's batching delay), and
   * the time wheel applies begin/end to `ts` exactly.
   */
  end_slack_ms: z.number().int().nonnegative().default(60_000),
  /**
   * Replays only the recorded lines this selects, in the traffic filter language
   * (docs/traffic.md): `{ method = "POST", path = "/api/orders*", status = "5xx", … }`. Method
   * narrows in the server (subjects), `since` starts the read at its stored time; the rest is
   * checked per line, and what it rejects is counted as filtered.
   */
  filter: filterTableSchema.optional(),
  /**
   * Follow live traffic: the job never runs out; records stored while it runs are replayed as
   * they arrive, each at its own ts + `[job] delay_ms`, until `havok ctl stop` (or a record
   * stored past `[job] end` + end_slack_ms). Needs `[job] speed = 1` and no `max_idle_ms`.
   */
  follow: z.boolean().default(false),
});

export type JetStreamSection = z.output<typeof jetstreamSchema>;
