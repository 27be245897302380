/**
 * `[fetcher] type = "jetstream"`: one source, `<stream>/<repo>`, read from the traffic stream
 * that `havok gateway` writes (read.ts). Records are the stored JSON objects through the jsonl
 * analyzer (field names of `[fetcher.file] fields`, whose defaults are the gateway's).
 */
import type { Issue, SourceKind } from '../types.js';
import { jetstreamSchema } from './schema.js';

export const jetstreamSource = {
  schema: jetstreamSchema,
  validate(s, scope) {
    const issues: Issue[] = [];
    if (s.repo === undefined) issues.push({ key: 'fetcher.jetstream.repo', message: 'required (the gateway repo to replay)' });
    const other = s.filter?.repo;
    // The source reads one repo: a filter naming another would select nothing.
    if (other !== undefined && s.repo !== undefined && other !== s.repo) issues.push({ key: 'fetcher.jetstream.filter.repo', message: `the source replays repo ${JSON.stringify(s.repo)}; leave repo out of the filter or name the same one` });
    // Follow mode maps log time to wall time one to one (a record is due at ts + delay_ms).
    if (s.follow && scope.speed !== 1) issues.push({ key: 'job.speed', message: `must be 1 with [fetcher.jetstream] follow = true (log time = wall time), got ${scope.speed}` });
    if (s.follow && scope.maxIdleMs > 0) issues.push({ key: 'job.max_idle_ms', message: `must be 0 with [fetcher.jetstream] follow = true (no idle gap is skipped), got ${scope.maxIdleMs}` });
    return issues;
  },
  async open(s, ctx) {
    const { openJetStreamSource } = await import('./read.js');
    return [await openJetStreamSource(s, ctx, await ctx.chain({ format: 'jsonl' }))];
  },
} satisfies SourceKind<typeof jetstreamSchema>;
