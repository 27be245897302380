/**
 * How far out of order a sequence arrived: the largest gap between a value and a larger one that
 * arrived before it (0 = in order). Tests allow a few places of slack on a loaded machine.
 */
export function worstOvertake(order: readonly number[]): number {
  let worst = 0;
  let max = -Infinity;
  for (const v of order) {
    worst = Math.max(worst, max - v);
    max = Math.max(max, v);
  }
  return worst;
}
