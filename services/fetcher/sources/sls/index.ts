/**
 * `[fetcher] type = "sls"` (the original Havok's `concurrency-sls`): an Aliyun SLS logstore, read
 * with GetLogs over `[job] begin`–`end` in windows, as one source `project/logstore`
 * (read.ts, getlogs.ts). The SDK loads only when an SLS job opens its source.
 */
import type { ChainOverride, SourceKind } from '../types.js';
import { slsSchema, type SlsSection } from './schema.js';
import { checkSls, slsSettings } from './settings.js';

/**
 * The analyzer settings for SLS lines: `[fetcher.sls] format` and `fields` in place of the file
 * ones. Without `line_field` the lines are JSON objects, so the default format is `jsonl`. Pure.
 */
export function slsChain(s: SlsSection): ChainOverride {
  return { format: s.format ?? (s.line_field ? undefined : 'jsonl'), fields: s.fields };
}

export const sls = {
  schema: slsSchema,
  validate(s, scope) {
    return checkSls(s, scope).issues;
  },
  async open(s, ctx) {
    const settings = slsSettings(s, ctx);
    const { openSlsSources } = await import('./read.js');
    return openSlsSources(settings, await ctx.chain(slsChain(s)), ctx.log);
  },
} satisfies SourceKind<typeof slsSchema>;
