/**
 * `[fetcher.file]`: log files, and the analyzer settings every source starts from (a Kafka or
 * SLS source replaces only the format and fields it sets itself).
 */
import { z } from 'zod';
import { logRegexProblem } from '../../../../shared/log-regex.js';
import { ANALYZERS, NGINX_COMBINED } from '../../analyzers/names.js';

/** `jsonl` field paths in a log line (SLS extends it with its own time field). */
export const jsonlFields = z.strictObject({
  ts: z.string().default('ts'),
  method: z.string().default('method'),
  url: z.string().default('url'),
  headers: z.string().default('headers'),
  body: z.string().default('body'),
});

export const fileSchema = z
  .strictObject({
    /** A path, a glob, or a list of them; `.gz` files are decompressed. */
    path: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    format: z.enum(ANALYZERS).default('combined'),
    // `.prefault({})`, not `.default({})`: zod 4 returns a default as it is, unparsed, so an
    // absent table would come out as `{}` without its own keys' defaults.
    fields: jsonlFields.prefault({}),
    /** nginx `log_format` string read by `format = "nginx"`. */
    log_format: z.string().min(1).default(NGINX_COMBINED),
    /** JS regex with named groups ts, method, url (body, header_<name>…) for `format = "regex"`. */
    regex: z
      .string()
      .optional()
      .superRefine((re, ctx) => {
        const problem = re === undefined ? undefined : logRegexProblem(re);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    /** How logged bodies are written: the text itself, or base64 of the bytes. */
    body_encoding: z.enum(['raw', 'base64']).default('raw'),
  })
  .superRefine((f, ctx) => {
    if (f.format === 'regex' && f.regex === undefined) ctx.addIssue({ code: 'custom', path: ['regex'], message: 'required when format = "regex"' });
  });

export type FileSection = z.output<typeof fileSchema>;
