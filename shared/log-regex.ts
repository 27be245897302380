/**
 * `fetcher.file.regex`: a JS regular expression whose named groups are the record's fields. The
 * check lives here so config validation (shared) and the analyzer (fetcher) agree on it.
 */

/** Named groups a log regex must have. */
export const REQUIRED_GROUPS = ['ts', 'method', 'url'] as const;

/**
 * The names of the named groups of `re`, in order. Matching the alternation `(?:re)|` against
 * the empty string always succeeds through the empty branch, and `groups` then lists every name
 * (with undefined values) — no parsing of the pattern text, so escapes and classes cannot fool it.
 */
export function groupNames(pattern: string): string[] {
  const m = emptyMatch(pattern);
  return m?.groups ? Object.keys(m.groups) : [];
}

/** How many capturing groups `pattern` has, as the regex engine counts them. Throws if it is invalid. */
export function groupCount(pattern: string): number {
  return (emptyMatch(pattern) as RegExpExecArray).length - 1;
}

/** `pattern` or nothing, matched against '': every group present, none matched (so no input needed). */
function emptyMatch(pattern: string): RegExpExecArray | null {
  return new RegExp(`(?:${pattern})|`).exec('');
}

/** What is wrong with `pattern` as a log regex, or undefined when nothing is. */
export function logRegexProblem(pattern: string): string | undefined {
  let names: string[];
  try {
    new RegExp(pattern);
    names = groupNames(pattern);
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
  const missing = REQUIRED_GROUPS.filter((g) => !names.includes(g));
  if (missing.length > 0) {
    return `needs the named groups ${REQUIRED_GROUPS.map((g) => `(?<${g}>…)`).join(', ')}; missing ${missing.join(', ')}`;
  }
  return undefined;
}
