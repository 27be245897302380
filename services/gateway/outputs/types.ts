/**
 * What a gateway output (a `[gateway.producers.<label>]` block) is: it stores a POST's lines and
 * resolves only when the store has acknowledged every one (JetStream publish acks, Kafka
 * acks=all), else rejects with StoreError, which the route answers with 503. One file per type
 * in this folder, listed in registry.ts.
 */
import type { NatsConnection } from '../../../shared/bus.js';
import type { Logger } from '../../../shared/log.js';
import type { StoredLine } from '../pipeline/pipeline.js';

export interface Producer {
  /** Bytes a stored payload may have; a longer line is dropped as too large (not stored). */
  readonly maxPayload: number;
  /**
   * Stores the lines of one POST of `repo`. `idKey` (the Idempotency-Key) makes each line's id
   * `<idKey>:<index>`, so a retried POST stores nothing twice.
   */
  store(repo: string, lines: readonly StoredLine[], idKey: string | undefined): Promise<void>;
  close(): Promise<void>;
}

export interface ProducerContext {
  label: string;
  /**
   * The gateway's one connection to `[nats] url`, opened on first use and shared by every JetStream
   * output and the traffic store; the gateway closes it after the outputs.
   */
  nats(): Promise<NatsConnection>;
  /** A store that has not acknowledged in this time is unreachable, ms. */
  timeoutMs: number;
  log: Logger;
  signal: AbortSignal;
}
