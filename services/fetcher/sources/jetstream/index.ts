/**
 * `[fetcher] type = "jetstream"`: one source, `<stream>/<repo>`, read from the traffic stream
 * that `havok gateway` writes (read.ts). Records are the stored JSON objects through the jsonl
 * analyzer (field names of `[fetcher.file] fields`, whose defaults are the gateway's).
 */
import type { SourceKind } from '../types.js';
import { jetstreamSchema } from './schema.js';

export const jetstreamSource = {
  schema: jetstreamSchema,
  validate(s) {
    if (s.repo === undefined) return [{ key: 'fetcher.jetstream.repo', message: 'required (the gateway repo to replay)' }];
    const other = s.filter?.repo;
    // The source reads one repo: a filter naming another would select nothing.
    if (other !== undefined && other !== s.repo) return [{ key: 'fetcher.jetstream.filter.repo', message: `the source replays repo ${JSON.stringify(s.repo)}; leave repo out of the filter or name the same one` }];
    return [];
  },
  async open(s, ctx) {
    const { openJetStreamSource } = await import('./read.js');
    return [await openJetStreamSource(s, ctx, await ctx.chain({ format: 'jsonl' }))];
  },
} satisfies SourceKind<typeof jetstreamSchema>;
