/**
 * The analyzer contract: one raw line in, one record (or a verdict) out. An analyzer is a plain
 * function so built-ins, user modules and tests all look the same; it never does I/O.
 */

/** One request as an analyzer sees it; the fetcher adds `src`/`seq` to make a LogRecord. */
export interface ParsedRecord {
  /** Log time, epoch ms. */
  ts: number;
  method: string;
  /** Path and query exactly as logged (`/a/b?c=1`), or an absolute URL. */
  url: string;
  /** Lower-case header names. */
  headers?: Record<string, string>;
  /** Raw text, or bytes (a base64 `body_encoding`, or nginx-escaped bytes that are not UTF-8). */
  body?: string | Uint8Array;
  /** API name (path template such as `/items/:id`); absent = derived by the reporter. */
  api?: string;
  /** Extra named fields (remote_addr, status, user_agent…), used only to look up `hash_field`. */
  fields?: Record<string, string>;
}

/**
 * undefined = not this format (the chain tries the next analyzer);
 * null = recognised but to be skipped (counted as filtered).
 */
export type Analyzer = (line: string) => ParsedRecord | null | undefined;
