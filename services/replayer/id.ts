import { hostname } from 'node:os';

/** Default replayer id: `<hostname>-<pid>`, made a valid NATS subject token. */
export function defaultReplayerId(): string {
  return `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100);
}
