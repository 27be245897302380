/**
 * The gateway's HTTP server (fastify, its logger the actor's pino): POST /log/repo/{repo} and
 * GET /metrics. Bodies are not parsed by fastify: the catch-all content parser leaves the stream
 * to ingest.ts, which reads it within the size limit and the byte budget.
 */
import Fastify, { LogController } from 'fastify';
import { IngestError } from './errors.js';
import { ingest, type IngestDeps } from './ingest.js';
import type { TrafficRoutes } from '../traffic/http.js';

export interface ServerOptions {
  retryAfterS: number;
  /** GET /traffic and /traffic/{id} over the traffic stream (docs/traffic.md); absent = not served. */
  traffic?: TrafficRoutes;
}

export function buildServer(d: IngestDeps, opts: ServerOptions) {
  // Per-request log lines off: a busy gateway logs its answers as metrics, and problems as warnings.
  const app = Fastify({ loggerInstance: d.log, logController: new LogController({ disableRequestLogging: true }), bodyLimit: d.maxBodyBytes });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  app.post<{ Params: { repo: string } }>('/log/repo/:repo', async (request, reply) => {
    const repo = request.params.repo;
    try {
      const counts = await ingest({ repo, headers: request.headers, body: request.raw }, d);
      d.metrics.requests.inc({ repo, code: '200' });
      return reply.code(200).send(counts);
    } catch (err) {
      if (!(err instanceof IngestError)) throw err;
      // Unknown repos are not labels of their own: a sender could otherwise grow the metrics without end.
      d.metrics.requests.inc({ repo: err.status === 404 ? '(unknown)' : repo, code: String(err.status) });
      if (err.status === 503) reply.header('retry-after', String(opts.retryAfterS));
      if (err.status === 401) reply.header('www-authenticate', 'Bearer');
      // The body may be unread (refused before or while reading): close rather than drain it.
      if (!request.raw.readableEnded) reply.header('connection', 'close');
      return reply.code(err.status).send({ error: err.message });
    }
  });

  const traffic = opts.traffic;
  if (traffic) {
    app.get('/traffic', async (request, reply) => {
      const a = await traffic.list(request.url);
      return reply.code(a.status).send(a.body);
    });
    app.get<{ Params: { id: string } }>('/traffic/:id', async (request, reply) => {
      const a = await traffic.show(request.params.id);
      return reply.code(a.status).send(a.body);
    });
  }

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', d.metrics.registry.contentType);
    return d.metrics.registry.metrics();
  });
  return app;
}
