/**
 * User analyzers: a JS module (ESM or CommonJS) loaded once at start-up. Accepted shapes, first
 * found wins: `export default fn | [fn…]`, `export const analyzers = [fn…]`, `export function
 * analyze(line)`. A CommonJS `module.exports = { analyze }` arrives as `default` and is looked into.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../../shared/errors.js';
import type { Analyzer } from './types.js';

const KEY = 'analyzer.module';
const EXPECTED = 'expected `export default` a function or an array of functions, `export const analyzers = [...]`, or `export function analyze(line)`';

/** Functions of `v` (a function or an array of them), or an error text naming what was wrong. */
function asAnalyzers(v: unknown, what: string): Analyzer[] | string {
  if (typeof v === 'function') return [v as Analyzer];
  if (!Array.isArray(v)) return `${what} is ${typeof v}, not a function or an array of functions`;
  if (v.length === 0) return `${what} is an empty array`;
  const bad = v.findIndex((x) => typeof x !== 'function');
  if (bad >= 0) return `${what}[${bad}] is ${typeof v[bad]}, not a function`;
  return v as Analyzer[];
}

function pick(mod: Record<string, unknown>): Analyzer[] | string {
  if (mod.default !== undefined) {
    const d = mod.default;
    // CommonJS: the exports object itself is the default export.
    if (typeof d === 'object' && d !== null && !Array.isArray(d)) {
      const inner = d as Record<string, unknown>;
      if (inner.analyzers !== undefined) return asAnalyzers(inner.analyzers, 'module.exports.analyzers');
      if (inner.analyze !== undefined) return asAnalyzers(inner.analyze, 'module.exports.analyze');
    }
    return asAnalyzers(d, 'the default export');
  }
  if (mod.analyzers !== undefined) return asAnalyzers(mod.analyzers, '`analyzers`');
  if (mod.analyze !== undefined) return asAnalyzers(mod.analyze, '`analyze`');
  return `it exports none of them (exports: ${Object.keys(mod).join(', ') || 'nothing'})`;
}

/** Imports the module at `path` (resolved against the cwd) and returns its analyze functions. */
export async function loadAnalyzerModule(path: string): Promise<Analyzer[]> {
  const abs = resolve(path);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError([{ key: KEY, message: `cannot load ${abs}: ${(err as Error).message}` }], { cause: err });
  }
  const found = pick(mod);
  if (typeof found === 'string') throw new ConfigError([{ key: KEY, message: `${abs} has no analyzers: ${found}; ${EXPECTED}` }]);
  return found;
}
