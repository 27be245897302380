/**
 * The SLS source's settings: `[fetcher.sls]` and the job's range checked and resolved into what
 * the reading needs (endpoint and scheme, keys with their env fallback, whole-second range).
 */
import { ConfigError } from '../../../../shared/errors.js';
import type { Issue, SourceScope } from '../types.js';
import type { SlsSection } from './schema.js';

/** Everything the source needs, checked and resolved from `[fetcher.sls]` and `[job]`. */
export interface SlsSettings {
  project: string;
  logstore: string;
  /** For messages: `https://<project>.<host>`. */
  url: string;
  client: { accessKeyId: string; accessKeySecret: string; securityToken?: string; region?: string; endpoint?: string; use_https: boolean };
  /** Epoch seconds, `[fromS, toS)`. */
  fromS: number;
  toS: number;
  query: string;
  topic?: string;
  windowS: number;
  pageSize: number;
  concurrency: number;
  preDownload: number;
  retries: number;
  backoffMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  lineField?: string;
}

const DEFAULT_DOMAIN = 'log.aliyuncs.com';

type SlsScope = Pick<SourceScope, 'begin' | 'end' | 'env'>;

/**
 * `[fetcher.sls]` and `[job]` resolved, with the env fallback for the access keys, or every
 * problem at once, each naming its key. Pure (the environment is passed in).
 */
export function checkSls(s: SlsSection, scope: SlsScope): { settings: SlsSettings; issues: [] } | { settings?: undefined; issues: Issue[] } {
  const { env } = scope;
  const issues: Issue[] = [];
  const need = (key: string, v: string | undefined, hint = ''): string => {
    if (v === undefined || v === '') issues.push({ key, message: `required${hint}` });
    return v ?? '';
  };
  const project = need('fetcher.sls.project', s.project);
  const logstore = need('fetcher.sls.logstore', s.logstore);
  const accessKeyId = need('fetcher.sls.access_key_id', s.access_key_id || env.ALIYUN_ACCESS_KEY_ID || env.ALIBABA_CLOUD_ACCESS_KEY_ID, ' (or env ALIYUN_ACCESS_KEY_ID)');
  const accessKeySecret = need(
    'fetcher.sls.access_key_secret',
    s.access_key_secret || env.ALIYUN_ACCESS_KEY_SECRET || env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    ' (or env ALIYUN_ACCESS_KEY_SECRET)',
  );
  const securityToken = s.security_token || env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined;

  // The SDK takes a bare host as plain http; a bare host here means https (keys and logs on the
  // wire), and only an explicit http:// URL (a local gateway, the tests) goes unencrypted.
  let host = '';
  let useHttps = true;
  if (s.endpoint !== undefined) {
    const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s.endpoint);
    let u: URL | undefined;
    try {
      u = new URL(hasScheme ? s.endpoint : `https://${s.endpoint}`);
    } catch {
      /* reported below */
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || (u.pathname !== '/' && u.pathname !== '') || u.search || u.username) {
      issues.push({ key: 'fetcher.sls.endpoint', message: `expected a host[:port] or an http(s)://host[:port] URL, got ${JSON.stringify(s.endpoint)}` });
    } else {
      host = u.host;
      useHttps = u.protocol === 'https:';
    }
  } else if (s.region) {
    host = `${s.region}.${DEFAULT_DOMAIN}`;
  } else {
    issues.push({ key: 'fetcher.sls.region', message: 'required (or fetcher.sls.endpoint)' });
  }

  const { begin, end } = scope;
  const range = ' for an SLS source: the log-time range to read (epoch ms or ISO 8601)';
  if (begin === undefined) issues.push({ key: 'job.begin', message: `required${range}` });
  if (end === undefined) issues.push({ key: 'job.end', message: `required${range}` });
  if (begin !== undefined && end !== undefined && end <= begin) issues.push({ key: 'job.end', message: `must be after job.begin (${new Date(begin).toISOString()})` });
  if (issues.length) return { issues };

  const settings: SlsSettings = {
    project,
    logstore,
    url: `${useHttps ? 'https' : 'http'}://${project}.${host}`,
    client: { accessKeyId, accessKeySecret, securityToken, endpoint: `${useHttps ? 'https' : 'http'}://${host}`, use_https: useHttps },
    // GetLogs takes whole seconds: cover [begin, end) and let the time wheel trim the edges.
    fromS: Math.floor(begin! / 1000),
    toS: Math.ceil(end! / 1000),
    query: s.expression?.trim() || '*',
    topic: s.topic,
    windowS: s.window_s,
    pageSize: s.page_size,
    concurrency: s.concurrency,
    preDownload: s['pre-download'],
    retries: s.retries,
    backoffMs: s.backoff_ms,
    backoffMaxMs: s.backoff_max_ms,
    timeoutMs: s.timeout_ms,
    lineField: s.line_field,
  };
  return { settings, issues: [] };
}

/** checkSls, throwing its problems as one ConfigError (exit 2). */
export function slsSettings(s: SlsSection, scope: SlsScope): SlsSettings {
  const { settings, issues } = checkSls(s, scope);
  if (!settings) throw new ConfigError(issues);
  return settings;
}

