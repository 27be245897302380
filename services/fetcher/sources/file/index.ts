/**
 * `[fetcher] type = "file"`: log files (a path, a glob or a list; `.gz` read too), one source
 * per file. The reading code (read.ts) loads when a job opens the source.
 */
import type { SourceKind } from '../types.js';
import { fileSchema } from './schema.js';

export const file = {
  schema: fileSchema,
  validate(f) {
    return f.path === undefined ? [{ key: 'fetcher.file.path', message: 'required' }] : [];
  },
  async open(f, ctx) {
    const { openFileSources } = await import('./read.js');
    return openFileSources(f.path!, await ctx.chain());
  },
  resolvePaths(f, abs) {
    if (f.path !== undefined) f.path = Array.isArray(f.path) ? f.path.map(abs) : abs(f.path as string);
  },
} satisfies SourceKind<typeof fileSchema>;
