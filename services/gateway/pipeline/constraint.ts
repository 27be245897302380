/**
 * A repo's constraint: required fields, equal values, regex matches. A line that fails it is
 * dropped and counted, never stored. Compiled once per repo; the check is pure.
 */
import type { ConstraintSettings } from '../settings.js';
import type { Line } from './executers.js';

/** Why the line fails, or undefined when it passes. */
export type Constraint = (line: Line) => string | undefined;

export function compileConstraint(c: ConstraintSettings): Constraint {
  const matches = Object.entries(c.matches).map(([f, re]) => [f, new RegExp(re)] as const);
  const equals = Object.entries(c.equals);
  return (line) => {
    for (const f of c.required) if (line[f] === undefined || line[f] === null) return `${f} is required`;
    for (const [f, v] of equals) if (line[f] !== v) return `${f} is not ${JSON.stringify(v)}`;
    for (const [f, re] of matches) {
      const v = line[f];
      if (v === undefined || v === null || !re.test(typeof v === 'string' ? v : JSON.stringify(v))) return `${f} does not match /${re.source}/`;
    }
    return undefined;
  };
}
