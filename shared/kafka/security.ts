/**
 * TLS (`ssl`) and SASL (`sasl`) keys of a Kafka client block, the same wherever Havok talks to
 * Kafka (`[fetcher.kafka]`, `[gateway.producers.<label>]` of type kafka), and their kafkajs options.
 * PEM paths are relative to the config file (`resolveSslPaths`, at load) and read when the client
 * is made; an unreadable one is a ConfigError naming its key.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** TLS: `true` (system CAs) or `{ ca, cert, key }` PEM file paths and options. */
export const kafkaSslSchema = z.union([
  z.boolean(),
  z.strictObject({
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    passphrase: z.string().optional(),
    servername: z.string().optional(),
    reject_unauthorized: z.boolean().default(true),
  }),
]);

/** SASL: PLAIN or SCRAM (RFC 5802) with a user name and password; usually with `ssl`. */
export const kafkaSaslSchema = z.strictObject({
  mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
  username: z.string().min(1),
  password: z.string(),
});

export interface KafkaSecuritySettings {
  ssl?: z.output<typeof kafkaSslSchema>;
  sasl?: z.output<typeof kafkaSaslSchema>;
}

/** Makes the PEM paths of `ssl` absolute (relative ones are relative to the config file). */
export function resolveSslPaths(s: KafkaSecuritySettings, abs: (path: string) => string): void {
  const ssl = s.ssl;
  if (typeof ssl === 'object') for (const key of ['ca', 'cert', 'key'] as const) if (ssl[key]) ssl[key] = abs(ssl[key]);
}

/**
 * kafkajs's `ssl` and `sasl` options of a block whose keys start with `keyPrefix` (for errors:
 * `gateway.producers.k` → `gateway.producers.k.ssl.ca: cannot read …`). Reads the PEM files.
 */
export function kafkaSecurity(s: KafkaSecuritySettings, keyPrefix: string): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  let ssl: KafkaConfig['ssl'];
  if (s.ssl === true) ssl = true;
  else if (typeof s.ssl === 'object') {
    const o = s.ssl;
    const read = (key: 'ca' | 'cert' | 'key'): Buffer | undefined => {
      const path = o[key];
      if (!path) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new ConfigError([{ key: `${keyPrefix}.ssl.${key}`, message: `cannot read ${path}: ${(err as Error).message}` }]);
      }
    };
    const tls: ConnectionOptions = { ca: read('ca'), cert: read('cert'), key: read('key'), passphrase: o.passphrase, servername: o.servername, rejectUnauthorized: o.reject_unauthorized };
    ssl = tls;
  }
  // kafkajs types SASL as a union per mechanism; ours carries the same three fields for each.
  const sasl = s.sasl ? ({ mechanism: s.sasl.mechanism, username: s.sasl.username, password: s.sasl.password } as SASLOptions) : undefined;
  return { ssl, sasl };
}
