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
    return s.repo === undefined ? [{ key: 'fetcher.jetstream.repo', message: 'required (the gateway repo to replay)' }] : [];
  },
  async open(s, ctx) {
    const { openJetStreamSource } = await import('./read.js');
    return [await openJetStreamSource(s, ctx, await ctx.chain({ format: 'jsonl' }))];
  },
} satisfies SourceKind<typeof jetstreamSchema>;
