/**
 * The job's state machine and the validation of control requests. Pure: given the state and a
 * request, it says what to do or why not.
 *
 *   pending → running ⇄ paused → finished | stopped      (stop is allowed from any live state)
 */
import { CONTROL_OPS, JOB_STATES, type ControlOp, type JobState } from '../../shared/protocol.js';

export type ControlDecision =
  | { ok: true; op: ControlOp; value?: number }
  | { ok: false; error: string };

const LIVE: readonly JobState[] = [JOB_STATES.pending, JOB_STATES.running, JOB_STATES.paused];
/** Speed and rate bounds, as in the config schema. */
const MAX_SPEED = 1e9;
const MAX_RATE = 1000;

export function decideControl(state: JobState, op: string, value: number | undefined): ControlDecision {
  if (!(CONTROL_OPS as readonly string[]).includes(op)) {
    return { ok: false, error: `unknown op ${JSON.stringify(op)}; expected one of ${CONTROL_OPS.join(', ')}` };
  }
  const o = op as ControlOp;
  if (o === 'status') return { ok: true, op: o };
  if (!LIVE.includes(state)) return { ok: false, error: `job is ${state}; it no longer takes ${o}` };
  switch (o) {
    case 'pause':
      if (state === JOB_STATES.paused) return { ok: false, error: 'job is already paused' };
      return { ok: true, op: o };
    case 'resume':
      if (state !== JOB_STATES.paused) return { ok: false, error: `job is ${state}, not paused` };
      return { ok: true, op: o };
    case 'speed':
      if (value === undefined || !(value > 0) || value > MAX_SPEED) return { ok: false, error: `speed must be a number > 0 and ≤ ${MAX_SPEED}, got ${String(value)}` };
      return { ok: true, op: o, value };
    case 'rate':
      if (value === undefined || !(value >= 0) || value > MAX_RATE) return { ok: false, error: `rate must be a number ≥ 0 and ≤ ${MAX_RATE}, got ${String(value)}` };
      return { ok: true, op: o, value };
    case 'stop':
      return { ok: true, op: o };
  }
}
