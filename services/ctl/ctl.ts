/**
 * `havok ctl`: steers a running job from any machine that reaches its NATS server. One request
 * on the job's control subject; the time wheel answers with the job's state or an error.
 */
import { connect } from '@nats-io/transport-node';
import { authError, isAuthError, natsOptions } from '../../shared/bus.js';
import type { HavokConfig } from '../../shared/config.js';
import { ProtocolError } from '../../shared/errors.js';
import { decodeOn, encode, envelope, subjects, type ControlOp, type ControlReplyMsg, type JobView } from '../../shared/protocol.js';

export class CtlError extends Error {
  override readonly name = 'CtlError' as const;
}

export async function sendControl(cfg: HavokConfig, op: ControlOp, value?: number, timeoutMs = 3000): Promise<ControlReplyMsg> {
  let nc;
  try {
    nc = await connect({ ...natsOptions(cfg.nats, 'havok-ctl'), maxReconnectAttempts: 0, timeout: timeoutMs });
  } catch (err) {
    if (isAuthError(err)) throw authError(cfg.nats, err);
    throw new CtlError(`cannot reach NATS at ${cfg.nats.url}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const msg = await nc
      .request(subjects.control(cfg.job.id), encode({ ...envelope('control', `ctl-${process.pid}`), op, ...(value !== undefined ? { value } : {}) }), { timeout: timeoutMs })
      .catch((err: Error) => {
        throw new CtlError(`no time wheel answers for job "${cfg.job.id}" on ${cfg.nats.url} (${err.message}); is the job running?`, { cause: err });
      });
    try {
      return decodeOn('control_reply', msg.data);
    } catch (err) {
      if (err instanceof ProtocolError) throw new CtlError(`malformed answer from the time wheel: ${err.message}`);
      throw err;
    }
  } finally {
    await nc.close();
  }
}

const iso = (ms: number): string => (ms > 0 ? new Date(ms).toISOString() : '-');

/** Human view of a job, as `havok ctl` prints it. */
export function formatView(v: JobView): string {
  return [
    `job        ${v.job}`,
    `state      ${v.state}`,
    `speed      ${v.speed}`,
    `rate       ${v.rate}`,
    `position   ${iso(v.position)}   (log ${iso(v.first_ts)} … ${iso(v.last_ts)})`,
    `progress   ${v.progress === null ? 'unknown until the source is read' : `${v.progress}%`}`,
    `dispatched ${v.dispatched} records, ${v.copies} requests released`,
    `req/s      ${v.req_per_s}`,
    ...(v.behind_live_ms === undefined ? [] : [`behind     ${(v.behind_live_ms / 1000).toFixed(1)} s behind live, beyond delay_ms (follow)`]),
    `replayers  ${v.replayers.length || 'none'}`,
    ...v.replayers.map((r) => `  ${r.id.padEnd(24)} ${String(r.rps).padStart(6)} req/s  in-flight ${r.inflight}/${r.capacity}  routed ${r.routed}  last heartbeat ${r.last_heartbeat_ms} ms ago`),
  ].join('\n');
}
