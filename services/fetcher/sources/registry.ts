/**
 * Every source kind, in one list: a new source is a folder under sources/ exporting a
 * `SourceKind` (types.ts), and one line here. Nothing else switches on `[fetcher] type`:
 * shared/config.ts builds `[fetcher] type` and each `[fetcher.<type>]` section from this list,
 * and the fetcher opens the job's sources through it (source.ts).
 *
 * shared/config.ts imports this module, so nothing reachable from it may import the config:
 * the kinds' index files hold schemas and pure checks only, take their section and the job's
 * facts as plain data (types.ts), and import their reading code (kafkajs, the SLS SDK) when a
 * job opens them. `npm run check:cycles` keeps it so.
 */
import { file } from './file/index.js';
import { jetstreamSource as jetstream } from './jetstream/index.js';
import { kafka } from './kafka/index.js';
import { sls } from './sls/index.js';
import type { SourceKind } from './types.js';

export const SOURCES = { file, jetstream, kafka, sls } as const satisfies Record<string, SourceKind>;

export type SourceType = keyof typeof SOURCES;

/** The original Havok's `[fetcher] type` names. */
export const SOURCE_ALIASES: Readonly<Record<string, SourceType>> = {
  'kafka-single-partition': 'kafka',
  'concurrency-sls': 'sls',
};
