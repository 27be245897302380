/**
 * The built-in analyzers' names and nginx's `combined` format: plain constants shared by the
 * config schemas of the sources and by the chain, in a module of their own so that neither has
 * to import the other (the config imports the source registry, see sources/registry.ts).
 */

export const ANALYZERS = ['combined', 'common', 'jsonl', 'nginx', 'regex'] as const;
export type AnalyzerName = (typeof ANALYZERS)[number];

/** nginx's predefined `combined` log_format: the default of `fetcher.file.log_format`. */
export const NGINX_COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
