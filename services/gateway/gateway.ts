/**
 * The ingest gateway actor (`havok gateway`): takes batches of JSON lines on POST
 * /log/repo/{repo}, runs each repo's pipeline and stores the accepted lines in its output (the
 * JetStream traffic stream by default), answering 200 only once the store acknowledged them.
 * Beside it: the trace-id indexer and per-repo retention of the traffic stream (retention.ts).
 * Closing stops accepting connections, lets the POSTs in flight finish (their acks or their
 * 503s), then drains the producers.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { Actor } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/log.js';
import { ByteBudget } from './budget.js';
import type { Repo } from './ingest.js';
import { createMetrics, type GatewayMetrics } from './metrics.js';
import { openProducer } from './outputs/registry.js';
import type { Producer } from './outputs/types.js';
import { compileRepo } from './pipeline/pipeline.js';
import { Sampler } from './sampler.js';
import { buildServer } from './server.js';
import { runRetention } from './retention.js';
import { gatewayFileIssues, gatewayIssues, producerOf, retentionByStream, type JetStreamProducerSettings } from './settings.js';
import { trafficRoutes, type TrafficRoutes } from '../traffic/http.js';
import { runTraceIndexer } from '../traffic/trace-index.js';

/** `host:port` → its parts (`[::1]:9080` → `::1`, 9080). Pure. */
export function parseListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(at + 1)) };
}

export class Gateway extends Actor {
  private app?: ReturnType<typeof buildServer>;
  private nats?: Promise<NatsConnection>;
  /** The address it listens on (port 0 in the config = a free one): for tests and logs. */
  address?: { host: string; port: number };

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
  ) {
    super(log);
    const issues = [...gatewayIssues(cfg.gateway), ...gatewayFileIssues(cfg.gateway)];
    if (Object.keys(cfg.gateway.repos).length === 0) issues.push({ key: 'gateway.repos', message: 'required: at least one [gateway.repos.<name>]' });
    if (issues.length) throw new ConfigError(issues);
  }

  protected async run(signal: AbortSignal): Promise<void> {
    const g = this.cfg.gateway;
    const producers = new Map<string, Producer>();
    const repos = new Map<string, Repo>();
    for (const [name, settings] of Object.entries(g.repos)) {
      const { label, settings: ps } = producerOf(g, settings);
      let producer = producers.get(label);
      if (!producer) {
        producer = await openProducer(ps, { label, nats: () => this.natsConnection(signal), timeoutMs: g.store_timeout_ms, log: this.log.child({ producer: label }), signal });
        const p = producer;
        this.onClose(`producer ${label}`, () => p.close());
        producers.set(label, producer);
      }
      repos.set(name, { name, pipeline: compileRepo(settings), producer, producerLabel: label, ...(settings.token ? { token: settings.token } : {}) });
    }
    const budget = new ByteBudget(g.max_inflight_bytes);
    const metrics = createMetrics(budget);
    const traffic = await this.openTrafficStore(signal, metrics);
    const app = buildServer(
      { repos, budget, maxBodyBytes: g.max_body_bytes, metrics, sampler: new Sampler(g.samples_per_minute), log: this.log, now: Date.now },
      { retryAfterS: g.retry_after_s, ...(traffic ? { traffic } : {}) },
    );
    this.app = app;
    const { host, port } = parseListen(g.listen);
    await app.listen({ host, port });
    const addr = app.server.address();
    this.address = typeof addr === 'object' && addr ? { host, port: addr.port } : { host, port };
    this.log.info({ listen: `${host}:${this.address.port}`, repos: [...repos.keys()], producers: [...producers.keys()] }, 'gateway listening');
  }

  /**
   * The traffic store beside the JetStream output (the first repo writing to one): GET /traffic
   * and, with `index_traces`, the trace-id indexer; and per-repo retention on every traffic
   * stream a limited repo writes to. None when every repo writes to Kafka.
   */
  private async openTrafficStore(signal: AbortSignal, metrics: GatewayMetrics): Promise<TrafficRoutes | undefined> {
    const g = this.cfg.gateway;
    const stream = Object.values(g.repos)
      .map((r) => producerOf(g, r).settings)
      .find((p): p is JetStreamProducerSettings => p.type === 'jetstream')?.stream;
    if (stream === undefined) return undefined;
    const nc = await this.natsConnection(signal);
    const client = { js: jetstream(nc), jsm: await jetstreamManager(nc), stream };
    const traceFieldOf = (repo: string): string | undefined => g.repos[repo]?.trace_field;
    for (const [s, limits] of retentionByStream(g)) {
      const log = this.log.child({ part: 'retention', stream: s });
      const running = runRetention({ client: { ...client, stream: s }, limits, intervalMs: g.retention_interval_ms, metrics, log, signal }).catch((err: Error) =>
        log.error({ err: err.message }, 'per-repo retention failed to start: the repos keep the stream\'s own limits only'),
      );
      // Before the connection drains (cleanups run last-registered first): a sweep in hand ends.
      this.onClose(`retention of ${s}`, () => running);
    }
    if (g.index_traces) {
      runTraceIndexer({ nc, ...client, traceFieldOf, log: this.log.child({ part: 'trace-indexer' }), signal }).then(
        (st) => this.log.info(st, 'trace indexer stopped'),
        (err: Error) => {
          // Closing the gateway stops it: not a failure.
          if (!signal.aborted) this.log.error({ err: err.message }, 'trace indexer failed: trace-id lookups fall back to scanning; run `havok traffic index`');
        },
      );
    }
    return trafficRoutes(client, { traceFieldOf });
  }

  /**
   * The gateway's one NATS connection, for every JetStream output, the traffic store and the trace
   * indexer (all on `[nats] url`): opened on first use, closed after everything using it (cleanups
   * run in reverse order of registration, and it registers before its users).
   */
  private natsConnection(signal: AbortSignal): Promise<NatsConnection> {
    return (this.nats ??= connectBus(this.cfg.nats, this.log, { name: `havok-gateway-${process.pid}`, signal }).then(
      (nc) => {
        // A drain that fails (NATS gone) leaves the client reconnecting for ever: close it then.
        this.onClose('NATS connection', () => nc.drain().catch(() => nc.close()));
        return nc;
      },
      (err: unknown) => {
        this.nats = undefined;
        throw err;
      },
    ));
  }

  /** Stops accepting; in-flight POSTs finish (fastify's close waits for them). */
  protected async drain(): Promise<void> {
    await this.app?.close();
  }
}
