/**
 * `havok console`: a live web page for one running job. The shell around view.ts: subscribes to
 * the job's status, router, stats and ended subjects, folds each message into the view, and once
 * a second closes a chart point and pushes the page's model to every open page as a server-sent
 * event. The controls send the same request as `havok ctl`; NATS credentials stay here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { connectBus, type NatsConnection } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { Actor } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/log.js';
import { CONTROL_OPS, decodeOn, subjects, type ControlOp, type KindOn, type MsgOf } from '../../shared/protocol.js';
import { CtlError, sendControl } from '../ctl/ctl.js';
import { htmlPathFor } from '../reporter/html.js';
import { hostAllowed, presentedToken, tokenMatches, type Listen } from './access.js';
import { pageHtml } from './page/html.js';
import { newConsoleState, onEnded, onRouter, onStats, onStatus, tick, viewOf, type ConsoleState, type ConsoleView } from './view.js';

/** What the page receives: the view model and the end reports' availability and paths. */
export type PageView = ConsoleView & { reports: { json: boolean; html: boolean; json_path: string; html_path: string } };

export interface ConsoleOptions {
  listen: Listen;
  /** Required on every request but the page's code when set (see access.ts). */
  token?: string;
  /** Chart point and page update period, ms. */
  tickMs?: number;
  /** Told the page's address (with the token when one is set) once the server listens. */
  onListening?: (url: string) => void;
}

const require = createRequire(import.meta.url);
/** The page's code, compiled by tsc beside this file, and uPlot from node_modules: no network needed. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/app.js': { file: fileURLToPath(new URL('./page/app.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  '/vendor/uplot.js': { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uplot.css': { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

export class ConsoleServer extends Actor {
  private nc!: NatsConnection;
  private app!: FastifyInstance;
  private readonly state: ConsoleState;
  private readonly streams = new Set<ServerResponse>();

  constructor(
    private readonly cfg: HavokConfig,
    log: Logger,
    private readonly opts: ConsoleOptions,
  ) {
    super(log);
    this.state = newConsoleState(cfg.job.id, Date.now());
  }

  protected async run(signal: AbortSignal): Promise<void> {
    const job = this.cfg.job.id;
    this.nc = await connectBus(this.cfg.nats, this.log, { name: `havok-console-${process.pid}`, signal });
    this.onClose('nats', () => this.nc.drain());
    // One fold per subject; a malformed message is counted and dropped (Actor.guard), the page goes on.
    const follow = <C extends 'status' | 'router' | 'stats' | 'ended'>(channel: C, fold: (m: MsgOf<KindOn<C>>) => void): void => {
      this.nc.subscribe(subjects[channel](job), { callback: (_err, msg) => this.guard(() => fold(decodeOn(channel, msg.data))) });
    };
    follow('status', (m) => onStatus(this.state, m));
    follow('router', (m) => onRouter(this.state, m, Date.now()));
    follow('stats', (m) => onStats(this.state, m));
    follow('ended', (m) => {
      onEnded(this.state, m, Date.now());
      this.push();
    });
    const timer = setInterval(() => {
      tick(this.state, Date.now());
      this.push();
    }, this.opts.tickMs ?? 1000);
    this.onClose('tick', () => clearInterval(timer));

    this.app = this.buildApp();
    await this.app.listen({ host: this.opts.listen.host, port: this.opts.listen.port });
    this.onClose('http', async () => {
      for (const res of this.streams) res.end();
      await this.app.close();
    });
    const addr = this.app.server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    const base = `http://${host}:${addr.port}/`;
    this.log.info({ url: base, token: this.opts.token !== undefined }, 'console listening');
    this.opts.onListening?.(this.opts.token ? `${base}?token=${encodeURIComponent(this.opts.token)}` : base);
  }

  protected async drain(): Promise<void> {
    // Nothing in flight to finish: the page is a view; closing the streams is a cleanup step.
  }

  /** The page's model to every open event stream. */
  private push(): void {
    if (this.streams.size === 0) return;
    const frame = `data: ${JSON.stringify(this.viewWithReports())}\n\n`;
    for (const res of this.streams) res.write(frame);
  }

  /** The model plus where the reports are: served here when this machine has them (the reporter's). */
  private viewWithReports(): PageView {
    const ended = this.state.ended !== undefined;
    const json = this.cfg.reporter.json;
    const html = htmlPathFor(json);
    return { ...viewOf(this.state), reports: { json: ended && existsSync(json), html: ended && existsSync(html), json_path: json, html_path: html } };
  }

  private buildApp(): FastifyInstance {
    const app = Fastify({ logger: false });
    const token = this.opts.token;
    app.addHook('onRequest', async (req, reply) => {
      if (!token) {
        if (!hostAllowed(req.headers.host)) await reply.code(403).send({ error: `Host ${JSON.stringify(req.headers.host)} is not this console's address` });
        return;
      }
      // The page's code and uPlot hold no job data; everything else needs the token.
      if (req.method === 'GET' && (ASSETS[req.url] !== undefined || req.url === '/favicon.ico')) return;
      if (!tokenMatches(token, presentedToken(req.headers.authorization, req.query))) {
        await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'a valid token is required (?token= or Authorization: Bearer)' });
      }
    });
    app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(pageHtml(this.cfg.job.id)));
    for (const [path, asset] of Object.entries(ASSETS)) {
      let body: Buffer | undefined; // read on first use, then kept: they do not change while running
      app.get(path, async (_req, reply) => reply.type(asset.type).header('cache-control', 'no-cache').send((body ??= readFileSync(asset.file))));
    }
    app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
    app.get('/api/view', async () => this.viewWithReports());
    app.get('/events', (_req, reply) => this.openStream(reply));
    app.post('/api/control', async (req, reply) => {
      const parsed = parseControl(req.body);
      if ('error' in parsed) return reply.code(400).send({ ok: false, error: parsed.error });
      try {
        const answer = await sendControl(this.cfg, parsed.op, parsed.value);
        this.log.info({ op: parsed.op, value: parsed.value, ok: answer.ok }, 'control request from the console');
        return { ok: answer.ok, error: answer.error, view: answer.view };
      } catch (err) {
        if (err instanceof CtlError) return reply.code(502).send({ ok: false, error: err.message });
        throw err;
      }
    });
    const report = (path: () => string, type: string) => async (_req: unknown, reply: FastifyReply) => {
      const file = path();
      if (!existsSync(file)) return reply.code(404).send({ error: `no report at ${file} yet` });
      return reply.type(type).send(readFileSync(file));
    };
    app.get('/report.json', report(() => this.cfg.reporter.json, 'application/json; charset=utf-8'));
    app.get('/report.html', report(() => htmlPathFor(this.cfg.reporter.json), 'text/html; charset=utf-8'));
    return app;
  }

  private openStream(reply: FastifyReply): void {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: 1000\ndata: ${JSON.stringify(this.viewWithReports())}\n\n`);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
  }
}

/** The body of POST /api/control: `{ "op": "speed", "value": 4 }`. */
export function parseControl(body: unknown): { op: ControlOp; value?: number } | { error: string } {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const op = b.op;
  if (typeof op !== 'string' || !(CONTROL_OPS as readonly string[]).includes(op)) return { error: `op: expected one of ${CONTROL_OPS.join(', ')}, got ${JSON.stringify(op)}` };
  if (op === 'speed' || op === 'rate') {
    const value = typeof b.value === 'string' && b.value.trim() !== '' ? Number(b.value) : b.value;
    if (typeof value !== 'number' || !Number.isFinite(value)) return { error: `value: ${op} needs a number, got ${JSON.stringify(b.value)}` };
    return { op, value };
  }
  return { op: op as ControlOp };
}
