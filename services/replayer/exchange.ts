/**
 * One request in flight and what its outcome is called: the undici dispatch handler the replayer
 * reuses per request, and the error kinds of the report.
 */
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { DueRecord } from '../../shared/protocol.js';

/** Who an exchange reports to: the replayer. */
export interface ExchangeOwner {
  /** The request is written to its socket (the moment it counts as sent). */
  written(ex: Exchange): void;
  /** The response completed, or the request failed with `err`. */
  settle(ex: Exchange, err: Error | undefined): void;
  /** The code warm-up has ended: a warm-up request still waiting for a connection must not go out. */
  warmupOver(): boolean;
}

/**
 * One request in flight: undici's dispatch handler (no promise, no body stream per request).
 * Objects are reused, so a request allocates little beyond what undici itself needs. It uses the
 * handler interface undici 7 dispatches to internally (onConnect … onComplete): a handler of the
 * newer one (onRequestStart …) is wrapped per request, with a controller and the response
 * headers parsed into an object, which a replay never reads.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  rec!: DueRecord;
  sentAt = 0;
  status = 0;
  /** The trace id this request carries (`[replayer.trace]`), for the report's samples. */
  traceId: string | undefined = undefined;
  /** Response body bytes read so far. */
  received = 0;
  /** Sent by the code warm-up: never counted, even if it settles after the warm-up ended. */
  warmup = false;

  constructor(private readonly owner: ExchangeOwner) {}

  /**
   * Called as the request gets its connection, before anything is written. A warm-up request
   * that waited in the Pool past the warm-up (a loaded machine) would now connect to the real
   * target: it is aborted instead (and settles as an error nobody counts).
   */
  onConnect(abort: (err?: Error) => void): void {
    if (this.warmup && this.owner.warmupOver()) abort(new Error('warm-up request after the warm-up'));
  }
  /** Called by undici once the request (head and body) is written to the socket. */
  onRequestSent(): void {
    this.owner.written(this);
  }
  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.received += chunk.length;
    return true;
  }
  onComplete(): void {
    this.owner.settle(this, undefined);
  }
  onError(err: Error): void {
    this.owner.settle(this, err);
  }
}

/** Error kinds for the report, from undici's and Node's error codes (never message text). */
export function errorKind(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'timeout';
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') return 'reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (code.startsWith('ERR_TLS') || code.startsWith('CERT_') || code.includes('SSL')) return 'tls';
  return 'other';
}
