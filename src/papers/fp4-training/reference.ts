/**
 * A plain-JavaScript reference of the FP4 pieces in `model.ts`, written the slow, obvious way
 * (the kernel's if-chain, a sort for the quantile, explicit loops for the matmuls and the
 * backward rules of the notes' §1.8), for tests. Matrices are row-major `number[][]`.
 * Float32 rounding is mirrored with `Math.fround` where the engine rounds (jax-js divides as
 * `x · (1/y)`, so the reference does too).
 */
import { fp4Max, fp4Thresholds, fp4Values, type FP4Format, type ClampMode } from "./model.js";

const f32 = Math.fround;

/** The kernel's if-chain: the first value whose threshold the input is below, else MAX. */
export function lutRef(x: number, format: FP4Format = "e2m1"): number {
  const v = fp4Values(format);
  const t = fp4Thresholds(format);
  for (let i = 0; i < t.length; i++) if (x < t[i]) return v[i];
  return v[v.length - 1];
}

/** MS-AMP's quantile index rule on a sorted row (Python `int((1 - a) * c)`, `int(a * c)`). */
export function quantileBoundsRef(row: number[], alpha: number): { lo: number; hi: number } {
  const s = [...row].sort((a, b) => a - b);
  const c = s.length;
  return { lo: s[Math.min(Math.floor((1 - alpha) * c), c - 1)], hi: s[Math.min(Math.floor(alpha * c), c - 1)] };
}

/** γ = MAX / max|v| in float32 (1 for an all-zero or non-finite vector), optionally 2^floor(log2(·)). */
export function scaleRef(amax: number, max: number, pow2: boolean): number {
  if (!(amax > 0) || !Number.isFinite(amax)) return 1;
  const g = f32(max * f32(1 / amax));
  return pow2 ? 2 ** Math.floor(Math.log2(g)) : g;
}

export type QuantRefOptions = {
  format?: FP4Format;
  granularity: "token" | "channel" | "tensor";
  pow2Scale?: boolean;
  clamp?: ClampMode;
  quantile?: number;
  /** Axis of the clamp's quantiles (default: the granularity's). */
  clampAxis?: "token" | "channel" | "tensor";
};

const transpose = (m: number[][]) => m[0].map((_, j) => m.map((r) => r[j]));

/** Clamp each row (token), column (channel) or the whole matrix (tensor) to its quantile bounds. */
function clampRef(x: number[][], alpha: number, axis: "token" | "channel" | "tensor"): number[][] {
  if (axis === "channel") return transpose(clampRef(transpose(x), alpha, "token"));
  if (axis === "tensor") {
    const { lo, hi } = quantileBoundsRef(x.flat(), alpha);
    return x.map((r) => r.map((v) => Math.min(Math.max(v, lo), hi)));
  }
  return x.map((r) => {
    const { lo, hi } = quantileBoundsRef(r, alpha);
    return r.map((v) => Math.min(Math.max(v, lo), hi));
  });
}

/**
 * Fake-quantize a matrix: Q(X_c·γ)/γ (+ ΔX with compensation). Also returns the scaled clamped
 * matrix X_c·γ (DGE's argument).
 */
export function quantizeRef(x: number[][], o: QuantRefOptions): { value: number[][]; scaled: number[][] } {
  const { format = "e2m1", granularity, pow2Scale = false, clamp = "none", quantile = 0.99, clampAxis = granularity } = o;
  const xc = clamp === "none" ? x : clampRef(x, quantile, clampAxis);
  const max = fp4Max(format);
  const absMax = (v: number[]) => v.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
  let gamma: (i: number, j: number) => number;
  if (granularity === "token") {
    const g = xc.map((r) => scaleRef(absMax(r), max, pow2Scale));
    gamma = (i) => g[i];
  } else if (granularity === "channel") {
    const g = transpose(xc).map((c) => scaleRef(absMax(c), max, pow2Scale));
    gamma = (_, j) => g[j];
  } else {
    const g = scaleRef(absMax(xc.flat()), max, pow2Scale);
    gamma = () => g;
  }
  const scaled = xc.map((r, i) => r.map((v, j) => f32(v * gamma(i, j))));
  const value = scaled.map((r, i) =>
    r.map((s, j) => {
      const q = f32(lutRef(s, format) * f32(1 / gamma(i, j)));
      return clamp === "compensate" ? f32(q + f32(x[i][j] - xc[i][j])) : q;
    }),
  );
  return { value, scaled };
}

/** Eq. (8) on one scaled E2M1 value, written as the official kernel's interval chain. */
export function dgeRef(x: number, k = 5, cap = 3): number {
  const d = (u: number, delta: number) => Math.min(Math.pow(Math.abs((2 * u) / delta - 1), 1 / k - 1) / k, cap);
  const a = Math.min(Math.abs(x), 6); // symmetric; the kernel's x > 6 → 0 cannot follow absmax scaling
  if (a >= 4) return d(a - 4, 2);
  if (a >= 3) return d(a - 3, 1);
  if (a >= 2) return d(a - 2, 1);
  const l = Math.floor(a / 0.5) * 0.5;
  return d(a - l, 0.5);
}

export function matmulRef(a: number[][], b: number[][]): number[][] {
  return a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
}

/**
 * The FP4 linear layer of the notes' §1.8, forward and backward, for A [n, in], W [in, out] and
 * an upstream gradient dY [n, out]:
 *   Y  = (Q(A_c) + ΔA)·Q(W)
 *   dA = dY·Q(W)ᵀ
 *   dW = (Q(A_c) + ΔA)ᵀ·dY ⊙ f'(W·s_W)   (⊙ 1 with STE)
 */
export function fp4LinearRef(
  A: number[][],
  W: number[][],
  dY: number[][],
  o: {
    act: { granularity: "token" | "tensor"; occ: ClampMode; quantile: number };
    weight: { granularity: "channel" | "tensor"; estimator: "dge" | "ste"; k: number; cap: number };
  },
): { y: number[][]; dA: number[][]; dW: number[][] } {
  const aq = quantizeRef(A, { granularity: o.act.granularity, clamp: o.act.occ, quantile: o.act.quantile, clampAxis: "token" }).value;
  const wq = quantizeRef(W, { granularity: o.weight.granularity });
  const y = matmulRef(aq, wq.value);
  const dA = matmulRef(dY, transpose(wq.value));
  const g = matmulRef(transpose(aq), dY);
  const dW = g.map((r, i) => r.map((v, j) => (o.weight.estimator === "dge" ? v * dgeRef(wq.scaled[i][j], o.weight.k, o.weight.cap) : v)));
  return { y, dA, dW };
}
