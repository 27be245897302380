/** The time wheel's settings the unit tests start from (`[job]` defaults, a 1 s re-order window), with overrides. */
import type { WheelSettings } from '../../services/timewheel/wheel.js';

export const wheelSettings = (o: Partial<WheelSettings> = {}): WheelSettings => ({
  leadMs: 50,
  maxBuffer: 50_000,
  maxBacklog: 0,
  minReplayers: 1,
  warmupMs: 500,
  speed: 1,
  rate: 1,
  maxIdleMs: 0,
  reorderWindowMs: 1000,
  dispatchBatch: 500,
  ...o,
});
