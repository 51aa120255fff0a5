/**
 * The statistics every verdict uses (the protocol's §3): binomial standard errors for rates, mean ±
 * standard error over seeds, the spread between independently trained seeds, and the difference
 * test that requires an effect to clear both 2 standard errors of the evaluation and the seed spread.
 * Pure functions over numbers: no tensors, no I/O.
 */

/** Standard error of a rate measured as `k` successes out of `n` trials: sqrt(p(1-p)/n). */
export function binomialSE(k: number, n: number): number {
  if (!Number.isFinite(k) || !Number.isFinite(n) || n <= 0 || k < 0 || k > n) throw new Error(`binomialSE: need 0 <= k <= n and n > 0, got k=${k}, n=${n}`);
  const p = k / n;
  return Math.sqrt((p * (1 - p)) / n);
}

/** A rate with its binomial standard error. */
export function rate(k: number, n: number): { value: number; se: number; n: number } {
  return { value: n > 0 ? k / n : 0, se: n > 0 ? binomialSE(k, n) : 0, n };
}

/** Mean, sample standard deviation (n-1) and standard error of the mean (0 for a single value). */
export function meanSE(xs: readonly number[]): { mean: number; sd: number; se: number; n: number } {
  const n = xs.length;
  if (n === 0) throw new Error("meanSE: no values");
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, sd: 0, se: 0, n };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return { mean, sd, se: sd / Math.sqrt(n), n };
}

/** The spread between independently trained seeds of one arm: max - min (0 for one seed). */
export function seedSpread(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("seedSpread: no values");
  return Math.max(...xs) - Math.min(...xs);
}

/** Standard error of a difference of two independent estimates. */
export function diffSE(seA: number, seB: number): number {
  return Math.sqrt(seA * seA + seB * seB);
}

export type DifferenceTest = {
  /** b - a. */
  diff: number;
  /** The standard error of the difference. */
  se: number;
  /** The seed spread the difference must also clear. */
  floor: number;
  /** max(2 se, floor): what |diff| must exceed. */
  noise: number;
  /** |diff| > noise. */
  significant: boolean;
  /** +1, -1, or 0 when not significant. */
  direction: 1 | -1 | 0;
};

/**
 * Is `diff` (an effect, b - a) real? It counts only when it exceeds both 2 standard errors of the
 * evaluation and the spread between independently trained seeds of the control arm.
 */
export function differenceTest(diff: number, se: number, floor = 0): DifferenceTest {
  if (!Number.isFinite(diff) || !Number.isFinite(se) || se < 0 || !Number.isFinite(floor) || floor < 0) {
    throw new Error(`differenceTest: need finite diff, se >= 0 and floor >= 0, got diff=${diff}, se=${se}, floor=${floor}`);
  }
  const noise = Math.max(2 * se, floor);
  const significant = Math.abs(diff) > noise;
  return { diff, se, floor, noise, significant, direction: significant ? (diff > 0 ? 1 : -1) : 0 };
}
