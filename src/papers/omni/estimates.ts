/**
 * The estimates the omni claims use: a pooled ratio over held-out utterances with its
 * delta-method standard error (CER and mel-L1 differences, paired between arms), the binomial
 * standard error of a rate, and effects combined over independently trained seeds.
 */
import { meanSE, seedSpread } from "../../train/stats.js";

/**
 * A pooled ratio Σx_i / Σn_i over units i (e.g. a CER difference: x = edits difference, n =
 * reference characters) with its standard error by the delta method: sqrt(m/(m−1) Σ(x_i − R n_i)²) / Σn.
 */
export function ratioEstimate(x: readonly number[], n: readonly number[]): { value: number; se: number } {
  const m = x.length;
  const N = n.reduce((a, b) => a + b, 0);
  const R = x.reduce((a, b) => a + b, 0) / N;
  if (m < 2) return { value: R, se: 0 };
  const ss = x.reduce((a, xi, i) => a + (xi - R * n[i]) ** 2, 0);
  return { value: R, se: Math.sqrt((m / (m - 1)) * ss) / N };
}

/** Standard error of a rate `p` measured on `n` items. */
export const rateSE = (p: number, n: number) => Math.sqrt((p * (1 - p)) / Math.max(1, n));

export type PerSeed = { seed: number; value: number; se: number };
export type Combined = { value: number; se: number; floor: number | null; seeds: number[] };

/**
 * Effects over independently trained seeds: one seed gives its own SE and no floor; several give
 * the mean, the SE of that mean (at least the evaluation SE) and the control's spread as floor.
 */
export function overSeeds(per: PerSeed[], control: number[]): Combined {
  const seeds = per.map((p) => p.seed);
  if (per.length === 1) return { value: per[0].value, se: per[0].se, floor: null, seeds };
  const m = meanSE(per.map((p) => p.value));
  const evalSE = Math.sqrt(per.reduce((a, p) => a + p.se ** 2, 0)) / per.length;
  return { value: m.mean, se: Math.max(m.se, evalSE), floor: seedSpread(control), seeds };
}

