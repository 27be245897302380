/**
 * Executers: the steps that reshape a decoded line, applied in a repo's order (chopper-go's
 * executers). Each kind is a schema and a small function in one table; nothing else switches on
 * `type`, so a new kind is one entry here.
 *
 * A step works on the line object fresh from JSON.parse, which the pipeline owns, so it changes it
 * in place (no copy per step). It returns an error message when the line cannot take it (the
 * line is then dropped and counted), else undefined. Field names are top-level keys.
 */
import { z } from 'zod';
import { parseTime } from '../../fetcher/analyzers/time.js';

export type Line = Record<string, unknown>;

const field = z.string().min(1);
const scalar = z.union([z.string(), z.number(), z.boolean()]);

const isObject = (v: unknown): v is Line => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One kind: its `[[gateway.repos.<r>.executers]]` schema and what it does. */
interface ExecuterKind<S extends z.ZodObject> {
  schema: S;
  run(line: Line, step: z.output<S>): string | undefined;
}

const kind = <S extends z.ZodObject>(k: ExecuterKind<S>): ExecuterKind<S> => k;

export const EXECUTERS = {
  /** Decodes a field holding JSON text into its value, at `into` (default: the field); `into = "."` merges an object into the line. */
  json: kind({
    schema: z.strictObject({ type: z.literal('json'), field, into: field.optional() }),
    run(line, s) {
      const v = line[s.field];
      if (typeof v !== 'string') return `${s.field} is not a string`;
      let parsed: unknown;
      try {
        parsed = JSON.parse(v);
      } catch {
        return `${s.field} is not JSON`;
      }
      if (s.into === '.') {
        if (!isObject(parsed)) return `${s.field} is not a JSON object`;
        delete line[s.field];
        Object.assign(line, parsed);
      } else line[s.into ?? s.field] = parsed;
      return undefined;
    },
  }),
  /** Splits a string field by `separator` into a list, at `into` (default: the field); `limit` parts at most, the last keeps the rest (0 = no limit). */
  split: kind({
    schema: z.strictObject({ type: z.literal('split'), field, separator: z.string().min(1), into: field.optional(), limit: z.number().int().nonnegative().default(0) }),
    run(line, s) {
      const v = line[s.field];
      if (typeof v !== 'string') return `${s.field} is not a string`;
      let parts = v.split(s.separator);
      if (s.limit > 0 && parts.length > s.limit) parts = [...parts.slice(0, s.limit - 1), parts.slice(s.limit - 1).join(s.separator)];
      line[s.into ?? s.field] = parts;
      return undefined;
    },
  }),
  /** Names the parts of a list field: part i becomes field `names[i]` ("" skips it); the list is removed. */
  names: kind({
    schema: z.strictObject({ type: z.literal('names'), field, names: z.array(z.string()).min(1) }),
    run(line, s) {
      const v = line[s.field];
      if (!Array.isArray(v)) return `${s.field} is not a list`;
      delete line[s.field];
      s.names.forEach((name, i) => {
        if (name !== '' && i < v.length) line[name] = v[i];
      });
      return undefined;
    },
  }),
  /** Renames fields, `{ old = "new" }`; an absent field is left absent. */
  rename: kind({
    schema: z.strictObject({ type: z.literal('rename'), fields: z.record(z.string(), field) }),
    run(line, s) {
      for (const [from, to] of Object.entries(s.fields)) {
        if (!(from in line)) continue;
        const v = line[from];
        delete line[from];
        line[to] = v;
      }
      return undefined;
    },
  }),
  /** Removes fields. */
  drop: kind({
    schema: z.strictObject({ type: z.literal('drop'), fields: z.array(field).min(1) }),
    run(line, s) {
      for (const f of s.fields) delete line[f];
      return undefined;
    },
  }),
  /** Sets fields to constants, `{ name = value }`. */
  set: kind({
    schema: z.strictObject({ type: z.literal('set'), fields: z.record(z.string(), scalar) }),
    run(line, s) {
      Object.assign(line, s.fields);
      return undefined;
    },
  }),
  /** Parses a time field (epoch s/ms/µs/ns, ISO 8601, or the access log's `10/Oct/2000:13:55:36 -0700`) into epoch ms at `into` (default `ts`). */
  timestamp: kind({
    schema: z.strictObject({ type: z.literal('timestamp'), field, into: field.default('ts') }),
    run(line, s) {
      const ms = parseTime(line[s.field]);
      if (!Number.isFinite(ms)) return `${s.field} is not a time`;
      line[s.into] = ms;
      return undefined;
    },
  }),
} as const;

type Kinds = typeof EXECUTERS;
export type ExecuterType = keyof Kinds;

/** The schemas, for `executers`' discriminated union in settings.ts. */
export const EXECUTER_SCHEMAS = [
  EXECUTERS.json.schema,
  EXECUTERS.split.schema,
  EXECUTERS.names.schema,
  EXECUTERS.rename.schema,
  EXECUTERS.drop.schema,
  EXECUTERS.set.schema,
  EXECUTERS.timestamp.schema,
] as const;

export type ExecuterSettings = z.output<(typeof EXECUTER_SCHEMAS)[number]>;

/** Runs one step by its type. */
export function runExecuter(line: Line, step: ExecuterSettings): string | undefined {
  // The table is keyed by the same literal the schema checked: the step fits its own kind.
  const k = EXECUTERS[step.type] as ExecuterKind<z.ZodObject>;
  return k.run(line, step);
}
