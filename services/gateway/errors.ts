/** The gateway's answers other than 200, as typed errors the route turns into a status. */

/** A request the gateway refuses: its HTTP status and a message for the sender. */
export class IngestError extends Error {
  override readonly name = 'IngestError' as const;
  constructor(
    readonly status: 400 | 401 | 404 | 413 | 415 | 503,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The store refused or did not answer in time: the sender should retry (503). */
export class StoreError extends Error {
  override readonly name = 'StoreError' as const;
  readonly retryable = true as const;
}
