/** Learning-rate schedules (plain numbers, computed on the host each step). */

export type ScheduleConfig = { lr: number; warmupSteps: number; totalSteps: number; minLrRatio: number };

/** Linear warm-up from 0 to `lr` over `warmupSteps`, then cosine decay to `minLrRatio·lr` at `totalSteps`. */
export function warmupCosine(step: number, c: ScheduleConfig): number {
  if (c.warmupSteps > 0 && step < c.warmupSteps) return (c.lr * (step + 1)) / c.warmupSteps;
  const span = Math.max(1, c.totalSteps - c.warmupSteps);
  const p = Math.min(1, Math.max(0, (step - c.warmupSteps) / span));
  const minLr = c.lr * c.minLrRatio;
  return minLr + 0.5 * (c.lr - minLr) * (1 + Math.cos(Math.PI * p));
}
