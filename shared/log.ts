import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs for every actor: JSON lines on stderr (stdout is kept for the user-facing
 * output of the CLI: progress lines, summaries, ctl answers). Level from HAVOK_LOG_LEVEL.
 */
export function createLogger(actor: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    { name: `havok-${actor}`, level: process.env.HAVOK_LOG_LEVEL ?? 'info', base: { actor, pid: process.pid, ...bindings } },
    pino.destination({ fd: 2, sync: false }),
  );
}
