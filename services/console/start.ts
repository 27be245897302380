/**
 * Entry points of the console: `havok console` (a process of its own, until Ctrl-C) and the one
 * `havok local --console` runs beside the job's actors. Both check the address and token first
 * (exit 2 when a non-loopback address has no token).
 */
import type { HavokConfig } from '../../shared/config.js';
import { runAsProcess } from '../../shared/lifecycle.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { DEFAULT_LISTEN, TOKEN_ENV, parseListen, requiredToken } from './access.js';
import { ConsoleServer } from './server.js';

export interface ConsoleFlags {
  /** HOST:PORT to listen on (default 127.0.0.1:8089). */
  listen?: string;
  token?: string;
}

function makeConsole(cfg: HavokConfig, flags: ConsoleFlags, log: Logger, key: string, onListening: (url: string) => void): ConsoleServer {
  const listen = parseListen(flags.listen ?? DEFAULT_LISTEN, key);
  const token = requiredToken(listen, flags.token ?? process.env[TOKEN_ENV], key);
  return new ConsoleServer(cfg, log, { listen, token, onListening });
}

/** `havok console`: prints the page's address, serves until a signal. */
export async function runConsole(cfg: HavokConfig, flags: ConsoleFlags, log: Logger, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const server = makeConsole(cfg, flags, log, '--listen', (url) => out.write(`havok console for job ${cfg.job.id}: ${url}\n`));
  return runAsProcess(server, log);
}

/** `havok local --console [HOST:PORT]`: started once NATS is up; returns its stop. */
export async function startLocalConsole(cfg: HavokConfig, listen: string | true, out: NodeJS.WritableStream = process.stdout): Promise<() => Promise<void>> {
  const print = (url: string): void => void out.write(`havok console: ${url}\n`);
  const server = makeConsole(cfg, { listen: listen === true ? undefined : listen }, createLogger('console', { job: cfg.job.id }), '--console', print);
  await server.start();
  return () => server.close('job over');
}
