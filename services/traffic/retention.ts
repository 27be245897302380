/**
 * Applying per-repo retention to the shared traffic stream (the decisions are in keep.ts):
 * a repo's lines below a cut sequence are purged with the repo's subject filter, so other repos
 * keep theirs. By age the cut is found in the server (the first of the repo's lines stored at or
 * after `now - max_age_ms`); by bytes it comes from a ledger (`retentionCut`).
 */
import { trafficFilter } from '../../shared/protocol.js';
import { seqAtTime, type TrafficStreamClient } from './scan.js';

/** Purges the repo's lines below `cut`; returns how many went. */
export async function purgeRepoBelow(c: TrafficStreamClient, repo: string, cut: number): Promise<number> {
  if (cut <= 1) return 0;
  const r = await c.jsm.streams.purge(c.stream, { filter: trafficFilter(repo), seq: cut });
  return r.purged;
}

/**
 * Drops the repo's lines stored before `now - maxAgeMs` (0 = no age limit). Returns how many
 * went. When nothing of the repo is that recent, all of its lines go.
 */
export async function purgeRepoByAge(c: TrafficStreamClient, repo: string, maxAgeMs: number, now: number): Promise<number> {
  if (maxAgeMs <= 0) return 0;
  const cut = await seqAtTime(c, trafficFilter(repo), now - maxAgeMs);
  if (cut !== undefined) return purgeRepoBelow(c, repo, cut);
  const r = await c.jsm.streams.purge(c.stream, { filter: trafficFilter(repo) });
  return r.purged;
}
