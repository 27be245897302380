/**
 * The gateway's Prometheus metrics (prom-client, its own registry, served on GET /metrics):
 * requests by repo and code, lines by repo and outcome, store latency, in-flight bytes, and
 * lines purged by per-repo retention.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ByteBudget } from './budget.js';

export interface GatewayMetrics {
  registry: Registry;
  requests: Counter<'repo' | 'code'>;
  lines: Counter<'repo' | 'outcome'>;
  storeSeconds: Histogram<'producer'>;
  retentionPurged: Counter<'repo' | 'reason'>;
}

export function createMetrics(budget: ByteBudget): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'havok_gateway_' });
  const requests = new Counter({ name: 'havok_gateway_requests_total', help: 'POST /log/repo/{repo} answers, by repo and HTTP status', labelNames: ['repo', 'code'] as const, registers: [registry] });
  const lines = new Counter({ name: 'havok_gateway_lines_total', help: 'Lines by repo and outcome: accepted (stored and acknowledged), dropped (constraint, executer or too large), malformed (not a JSON object), sampled_out (the repo\'s sample did not keep their key)', labelNames: ['repo', 'outcome'] as const, registers: [registry] });
  const storeSeconds = new Histogram({
    name: 'havok_gateway_store_seconds',
    help: 'Time from a POST\'s first publish to its last acknowledgement, by producer',
    labelNames: ['producer'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({ name: 'havok_gateway_inflight_bytes', help: 'Bytes of bodies being read, decoded or stored now', registers: [registry], collect() { this.set(budget.inUse); } });
  new Gauge({ name: 'havok_gateway_inflight_limit_bytes', help: '[gateway] max_inflight_bytes', registers: [registry], collect() { this.set(budget.limit); } });
  const retentionPurged = new Counter({ name: 'havok_gateway_retention_purged_total', help: 'Lines purged from the traffic stream by per-repo retention, by repo and reason (max_age_ms: age, max_bytes: bytes)', labelNames: ['repo', 'reason'] as const, registers: [registry] });
  return { registry, requests, lines, storeSeconds, retentionPurged };
}
