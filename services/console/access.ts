/**
 * Who may use the console. Bound to loopback it is the operator's own machine and needs nothing;
 * on any other address it steers a job for whoever reaches the port, so a token is required
 * (`--token` or HAVOK_CONSOLE_TOKEN) and the page, its event stream and the controls answer 401
 * without it. NATS credentials never leave the server.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError } from '../../shared/errors.js';

export const DEFAULT_LISTEN = '127.0.0.1:8089';
export const TOKEN_ENV = 'HAVOK_CONSOLE_TOKEN';

export interface Listen {
  host: string;
  /** 0 = any free port. */
  port: number;
}

/** `HOST:PORT`, `[v6]:PORT`, `:PORT` (loopback) or `PORT` alone (loopback). */
export function parseListen(text: string, key = '--listen'): Listen {
  const bad = (): ConfigError => new ConfigError([{ key, message: `expected HOST:PORT (e.g. ${DEFAULT_LISTEN}), got ${JSON.stringify(text)}` }]);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (!m) throw bad();
  const host = m[1] || m[2] || '127.0.0.1';
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad();
  return { host, port };
}

/** 127.0.0.0/8, ::1 and `localhost`: only this machine reaches them. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\./i.test(host);
  return false;
}

/** The token in force: off loopback one is required (exit 2 naming where to give it). */
export function requiredToken(listen: Listen, token: string | undefined, key = '--listen'): string | undefined {
  const t = token === '' ? undefined : token;
  if (t === undefined && !isLoopback(listen.host)) {
    throw new ConfigError([{ key, message: `${listen.host} is not a loopback address: the console then needs a token (--token or ${TOKEN_ENV})` }]);
  }
  return t;
}

/**
 * Without a token the console trusts loopback only, and a page elsewhere can still reach it
 * through the operator's browser by DNS rebinding (a name that resolves to 127.0.0.1): such a
 * request carries the foreign name in `Host`. Only loopback names and IP literals pass.
 */
export function hostAllowed(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::\d+)?$/.exec(hostHeader);
  const host = m ? (m[1] ?? m[2]) : '';
  return isLoopback(host) || isIP(host) !== 0;
}

/**
 * Constant-time check of a presented token. Both sides are hashed first, so the comparison
 * takes the same time whatever their lengths (timingSafeEqual needs equal lengths).
 */
export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(presented));
}

/** The token a request carries: `Authorization: Bearer T`, else `?token=T` (EventSource cannot set headers). */
export function presentedToken(authorization: string | undefined, query: unknown): string | undefined {
  const m = authorization ? /^Bearer\s+(.+)$/i.exec(authorization) : null;
  if (m) return m[1].trim();
  const q = typeof query === 'object' && query !== null ? (query as Record<string, unknown>).token : undefined;
  return typeof q === 'string' ? q : undefined;
}
