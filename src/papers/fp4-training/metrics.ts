/**
 * Fidelity of a quantized tensor against the original, as in the paper's Table 1 (§3.2) and the
 * dev code's `test_sparsified_compensation`: cosine similarity of the flattened tensors (SIM),
 * mean squared error (MSE) and signal-to-noise ratio SNR = 10·log10(‖x‖² / ‖x − x_q‖²) in dB.
 * Sums run in float64.
 */
export type Fidelity = {
  /** Cosine similarity in [−1, 1] (NaN when either tensor is all zeros). */
  sim: number;
  mse: number;
  /** +Infinity when x_q equals x. */
  snrDb: number;
};

export function fidelity(x: ArrayLike<number>, q: ArrayLike<number>): Fidelity {
  if (x.length !== q.length) throw new Error(`fidelity: length ${x.length} vs ${q.length}`);
  if (x.length === 0) throw new Error("fidelity: empty tensor");
  let xx = 0;
  let qq = 0;
  let xq = 0;
  let ee = 0;
  for (let i = 0; i < x.length; i++) {
    const a = x[i];
    const b = q[i];
    xx += a * a;
    qq += b * b;
    xq += a * b;
    ee += (a - b) * (a - b);
  }
  return { sim: xq / Math.sqrt(xx * qq), mse: ee / x.length, snrDb: 10 * Math.log10(xx / ee) };
}

/** Fraction of non-zero entries (the density of the compensation residual ΔX). */
export function nonzeroFraction(x: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) n++;
  return x.length ? n / x.length : 0;
}
