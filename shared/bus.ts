/**
 * NATS connection helper shared by every actor: authentication and TLS from `[nats]`,
 * reconnects forever (an actor outlives a nats-server restart), and status changes logged.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type ConnectionOptions } from '@nats-io/transport-node';
import type { HavokConfig } from './config.js';
import { ConfigError } from './errors.js';
import type { Logger } from './log.js';
import { retry, RetryError } from './retry.js';

export type { NatsConnection };

export interface BusOptions {
  /** Connection name shown by the server (`havok-<actor>-<id>`). */
  name: string;
  /** How long to keep trying the first connection before failing; 0 = forever. */
  firstConnectTimeoutMs?: number;
  /** Stops trying (the actor is closing). */
  signal?: AbortSignal;
}

export function natsOptions(cfg: HavokConfig['nats'], name: string): ConnectionOptions {
  const opts: ConnectionOptions = {
    servers: cfg.url.split(',').map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // A server cut off by the network sends no reset: only missed PONGs tell. 2 s × 3 missed
    // = a dead link found in ~6 s, then the client moves to another node of the cluster.
    pingInterval: 2_000,
    maxPingOut: 3,
  };
  if (cfg.user !== undefined) opts.user = cfg.user;
  if (cfg.password !== undefined) opts.pass = cfg.password;
  if (cfg.token !== undefined) opts.token = cfg.token;
  if (cfg.creds !== undefined) {
    const path = cfg.creds;
    opts.authenticator = credsAuthenticator(() => readFileSync(path));
  }
  if (cfg.tls === true) opts.tls = {};
  else if (typeof cfg.tls === 'object') {
    opts.tls = {
      ...(cfg.tls.ca ? { caFile: cfg.tls.ca } : {}),
      ...(cfg.tls.cert ? { certFile: cfg.tls.cert } : {}),
      ...(cfg.tls.key ? { keyFile: cfg.tls.key } : {}),
    };
  }
  return opts;
}

/** Bad credentials are a config error (exit 2) naming the keys that supplied them. */
export function authError(cfg: HavokConfig['nats'], err: unknown): ConfigError {
  const keys = ['user', 'password', 'token', 'creds'].filter((k) => cfg[k as keyof typeof cfg] !== undefined).map((k) => `nats.${k}`);
  return new ConfigError([{ key: keys.join(', ') || 'nats', message: `NATS at ${cfg.url} refused the credentials: ${(err as Error).message}` }], { cause: err });
}

/** Authentication failures are final; anything else is worth retrying. */
export function isAuthError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  return e?.name === 'AuthorizationError' || e?.code === 'AUTHORIZATION_VIOLATION' || /authoriz/i.test(e?.message ?? '');
}

/**
 * Connects, retrying the first connection with a clear log line every attempt (an actor may start
 * before nats-server). Throws after `firstConnectTimeoutMs` or on an authorization error.
 */
export async function connectBus(cfg: HavokConfig['nats'], log: Logger, opts: BusOptions): Promise<NatsConnection> {
  try {
    const nc = await retry(
      async (attempt) => {
        const conn = await connect(natsOptions(cfg, opts.name));
        log.info({ server: conn.getServer(), attempt }, 'connected to NATS');
        return conn;
      },
      {
        signal: opts.signal,
        // 200 ms, doubling, at most 2 s between attempts.
        backoff: { initialMs: 200, maxMs: 2000 },
        deadlineMs: opts.firstConnectTimeoutMs || undefined,
        isRetryable: (err) => !isAuthError(err),
        // `havok local` starts its nats-server while the actors load: a first miss is that race, not news.
        onRetry: ({ err, attempt, delayMs }) =>
          log[attempt <= 1 ? 'info' : 'warn']({ url: cfg.url, attempt, retry_in_ms: delayMs, err: (err as Error).message }, 'NATS unreachable, retrying'),
      },
    );
    void watchStatus(nc, log);
    return nc;
  } catch (err) {
    if (isAuthError(err)) throw authError(cfg, err);
    if (err instanceof RetryError) {
      throw new Error(`NATS at ${cfg.url} unreachable after ${err.attempts} attempts: ${(err.lastError as Error).message}`, { cause: err.lastError });
    }
    throw err;
  }
}

async function watchStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const s of nc.status()) {
    switch (s.type) {
      case 'disconnect':
        log.warn({ server: s.server }, 'NATS disconnected');
        break;
      case 'reconnect':
        log.info({ server: s.server }, 'NATS reconnected');
        break;
      case 'error':
        log.error({ err: s.error.message }, 'NATS error');
        break;
      case 'slowConsumer':
        log.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'NATS slow consumer');
        break;
      default:
        break;
    }
  }
}
