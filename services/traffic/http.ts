/**
 * `GET /traffic?<filters>` and `GET /traffic/{id}` (`SEQ:LINE`, or `SEQ`: line 0), framework-agnostic: each handler takes the
 * request's URL (path + query) and returns a status and a JSON body, so the gateway (fastify)
 * mounts them in a few lines and a plain node:http server can serve them too (`handle`).
 * Filters are the filter language's keys as query params; paging params are `limit`, `order`
 * (newest|oldest), `cursor`, `budget`; the answer's `next` is the URL of the next page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseTrafficLineId } from '../../shared/protocol.js';
import { compileFilter, FilterError, filterToQuery, parseFilter, rawFromQuery } from './filter.js';
import { ORDERS, queryTraffic, RecordNotFoundError, showRecord, type Order, type QueryOptions } from './query.js';
import type { TrafficStreamClient } from './scan.js';

export interface HttpAnswer {
  status: number;
  body: unknown;
}

export interface TrafficRoutes {
  /** `GET /traffic?…`: `url` is the request's path and query. */
  list(url: string): Promise<HttpAnswer>;
  /** `GET /traffic/{id}`: `SEQ:LINE`, or `SEQ` (line 0). */
  show(id: string): Promise<HttpAnswer>;
  /** The two routes on a node:http request; false when the path is neither (the caller answers). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

const PAGING = ['limit', 'order', 'cursor', 'budget'] as const;
/** Most records one page may ask for (`limit`). */
const MAX_PAGE = 10_000;

export interface TrafficRoutesOptions extends Pick<QueryOptions, 'traceFieldOf' | 'clockSkewMs' | 'scanBudget'> {
  /** Path prefix the routes are mounted at (default `/traffic`). */
  prefix?: string;
  /** Clock for relative times (`since=15m`). */
  now?: () => number;
}

function intParam(q: URLSearchParams, key: string, max: number): number | undefined {
  const v = q.get(key);
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new FilterError(key, `expected an integer 1..${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function trafficRoutes(c: TrafficStreamClient, o: TrafficRoutesOptions = {}): TrafficRoutes {
  const prefix = o.prefix ?? '/traffic';
  const now = o.now ?? Date.now;
  const list = async (url: string): Promise<HttpAnswer> => {
    const u = new URL(url, 'http://x');
    try {
      const filter = parseFilter(rawFromQuery(u.searchParams, PAGING), { now: now() });
      const order = (u.searchParams.get('order') ?? 'newest') as Order;
      if (!ORDERS.includes(order)) throw new FilterError('order', `expected newest or oldest, got ${JSON.stringify(order)}`);
      const limit = intParam(u.searchParams, 'limit', MAX_PAGE);
      const budget = intParam(u.searchParams, 'budget', Number.MAX_SAFE_INTEGER) ?? o.scanBudget;
      const cursor = u.searchParams.get('cursor') ?? undefined;
      const r = await queryTraffic(c, compileFilter(filter), {
        order,
        ...(limit ? { limit } : {}),
        ...(budget ? { scanBudget: budget } : {}),
        ...(cursor ? { cursor } : {}),
        ...(o.traceFieldOf ? { traceFieldOf: o.traceFieldOf } : {}),
        ...(o.clockSkewMs !== undefined ? { clockSkewMs: o.clockSkewMs } : {}),
      });
      let next: string | undefined;
      if (r.cursor) {
        // Relative times are resolved into the filter, so the next page covers the same range.
        const q = filterToQuery(filter);
        q.set('order', order);
        if (limit) q.set('limit', String(limit));
        if (budget) q.set('budget', String(budget));
        q.set('cursor', r.cursor);
        next = `${prefix}?${q.toString()}`;
      }
      return { status: 200, body: { ...r, ...(next ? { next } : {}) } };
    } catch (err) {
      if (err instanceof FilterError) return { status: 400, body: { error: err.message, key: err.key } };
      throw err;
    }
  };
  const show = async (idText: string): Promise<HttpAnswer> => {
    const at = parseTrafficLineId(idText);
    if (!at) return { status: 400, body: { error: `not a record id (SEQ or SEQ:LINE): ${JSON.stringify(idText)}` } };
    try {
      return { status: 200, body: await showRecord(c, at.seq, at.line) };
    } catch (err) {
      if (err instanceof RecordNotFoundError) return { status: err.expired ? 410 : 404, body: { error: err.message, expired: err.expired } };
      throw err;
    }
  };
  return {
    list,
    show,
    async handle(req, res) {
      const path = (req.url ?? '').split('?')[0]!;
      let answer: HttpAnswer;
      if (req.method !== 'GET' || !path.startsWith(prefix)) return false;
      const one = path.startsWith(`${prefix}/`) && !path.slice(prefix.length + 1).includes('/');
      if (path !== prefix && !one) return false;
      try {
        answer = one ? await show(decodeURIComponent(path.slice(prefix.length + 1))) : await list(req.url!);
      } catch (err) {
        answer = { status: 500, body: { error: (err as Error).message } };
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
      return true;
    },
  };
}
