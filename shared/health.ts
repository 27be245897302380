/**
 * Health and readiness over HTTP for container orchestrators (`--health-port`): GET /healthz
 * answers 200 once the actor is ready and 503 while it starts or drains, with the actor's name,
 * phase and pid as JSON, and GET /metrics the actor's Prometheus metrics (shared/metrics.ts).
 */
import { createServer, type Server } from 'node:http';
import type { Actor } from './lifecycle.js';
import { METRICS_CONTENT_TYPE, metricsText } from './metrics.js';

export function serveHealth(actor: Actor, name: string, port: number, host = '0.0.0.0'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void metricsText().then(
        (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
      return;
    }
    if (req.url !== '/healthz' && req.url !== '/readyz') {
      res.writeHead(404).end();
      return;
    }
    const phase = actor.phase;
    res.writeHead(phase === 'ready' ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ actor: name, phase, pid: process.pid }) + '\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.unref();
      resolve(server);
    });
  });
}
