/**
 * Raw and noise counts joined into what is reported, as Diffy's JoinedDifferences: per endpoint
 * and field, relative = |raw − noise| / (raw + noise) and absolute = |raw − noise| / the
 * endpoint's compared records. A field is different when raw > noise and both pass their
 * thresholds, and it is not under one of the user's ignored prefixes. Pure.
 */
import type { DiffEndpointStats, DiffExample } from '../../shared/protocol.js';
import type { DiffSettings } from './settings.js';

export interface DiffFieldReport {
  path: string;
  kind: string;
  raw: number;
  noise: number;
  relative: number;
  absolute: number;
  examples: DiffExample[];
}

/** A field seen to differ that is not reported as different: noise, under a threshold or ignored. */
export type NoiseFieldReport = Omit<DiffFieldReport, 'examples'> & { ignored?: true };

export interface DiffEndpointReport {
  endpoint: string;
  /** Records compared. */
  total: number;
  /** Fields reported as different (the length of `fields`). */
  different: number;
  /** Records not compared, by reason. */
  skipped: Record<string, number>;
  fields: DiffFieldReport[];
  noise_fields: NoiseFieldReport[];
}

export type JoinSettings = Pick<DiffSettings, 'relative_threshold' | 'absolute_threshold' | 'ignore'>;

/** Endpoints sorted by different fields (most first), then by records compared. */
export function joinDiff(endpoints: Readonly<Record<string, DiffEndpointStats>>, settings: JoinSettings, examplesOf: (endpoint: string, path: string, kind: string) => DiffExample[]): { endpoints: DiffEndpointReport[]; critical: number } {
  const out: DiffEndpointReport[] = [];
  let critical = 0;
  for (const [endpoint, e] of Object.entries(endpoints)) {
    const ignored = [...(settings.ignore[endpoint] ?? []), ...(settings.ignore['*'] ?? [])];
    const fields: DiffFieldReport[] = [];
    const noise: NoiseFieldReport[] = [];
    for (const [path, byKind] of Object.entries(e.fields)) {
      for (const [kind, { raw, noise: n }] of Object.entries(byKind)) {
        const relative = raw + n === 0 ? 0 : round(Math.abs(raw - n) / (raw + n));
        const absolute = e.total === 0 ? 0 : round(Math.abs(raw - n) / e.total);
        const row = { path, kind, raw, noise: n, relative, absolute };
        if (ignored.some((prefix) => underPrefix(path, prefix))) noise.push({ ...row, ignored: true });
        else if (raw > n && relative >= settings.relative_threshold && absolute >= settings.absolute_threshold) fields.push({ ...row, examples: examplesOf(endpoint, path, kind) });
        else noise.push(row);
      }
    }
    const byCount = (a: { raw: number; noise: number; path: string }, b: { raw: number; noise: number; path: string }): number => b.raw - a.raw || b.noise - a.noise || a.path.localeCompare(b.path);
    fields.sort(byCount);
    noise.sort(byCount);
    critical += fields.length;
    out.push({ endpoint, total: e.total, different: fields.length, skipped: e.skipped, fields, noise_fields: noise });
  }
  out.sort((a, b) => b.different - a.different || b.total - a.total || a.endpoint.localeCompare(b.endpoint));
  return { endpoints: out, critical };
}

/** `body.a` is under `body.a`, `body` and `body.a`'s own children (`body.a.b`, `body.a[*]`), not under `body.ab`. */
export function underPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const next = path.charAt(prefix.length);
  return next === '' || next === '.' || next === '[';
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;
