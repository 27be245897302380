/**
 * Small error classes with a literal `name` (nats.js style). A retryable failure is marked by a
 * field, never recognised by matching message text.
 */

/** A config or usage error: the CLI exits 2 and prints every issue, each naming its key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError' as const;
  readonly exitCode = 2 as const;
  constructor(
    readonly issues: ReadonlyArray<{ key: string; message: string }>,
    options?: ErrorOptions,
  ) {
    super(issues.map((i) => `${i.key}: ${i.message}`).join('\n'), options);
  }
}

/** A NATS message that cannot be decoded or has the wrong version or shape: log and drop it. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError' as const;
}

/** A source (file, Kafka, SLS) failed; `retryable` tells whether trying again can help. */
export class SourceError extends Error {
  override readonly name = 'SourceError' as const;
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
