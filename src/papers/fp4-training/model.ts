/**
 * FP4 training: "Optimizing Large Language Model Training Using FP4 Quantization"
 * (Wang, Bai, ... Cheng, ICML 2025, arXiv 2501.17116, https://arxiv.org/abs/2501.17116).
 *
 * Like the paper (which runs FP4 values on FP8 tensor cores), this is a simulation: FP4 numbers
 * are produced and multiplied in float32, so the arithmetic is exactly what FP4 operands with
 * high-precision accumulation give. The pieces, in the order the paper introduces them:
 *
 *   Eq. (1)  x_fp4 = Q(x·γ),  γ = MAX_fp4 / max|x|          absmax scale per token, per output
 *            channel or per tensor; Q is the look-up quantizer of App. A (MAX = 6 for E2M1)
 *   Eq. (7)  f(x)  = δ/2 · (1 + sign(2x/δ − 1)·|2x/δ − 1|^(1/k))      smooth quantizer on [0, δ]
 *   Eq. (8)  f'(x) = 1/k · |2x/δ − 1|^(1/k − 1), capped at 3.0        the Differentiable Gradient
 *            Estimator (DGE), applied piecewise over the E2M1 intervals to the *scaled* weight
 *   Eq. (9)  Y_c = clamp(Y, q_{1−α}, q_α),  ΔY = Y − Y_c               Outlier Clamping and
 *            Compensation (OCC): a per-token quantile clamp; the sparse residual ΔY is added back
 *            in full precision
 *
 * and the FP4 linear layer built from them (§3, App. C.2):
 *
 *   forward   Y  = Q(A_c)·Q(W) + ΔA·Q(W)
 *   backward  dA = dY·Q(W)ᵀ                          (straight-through for the activation)
 *             dW = (Q(A_c) + ΔA)ᵀ·dY ⊙ f'(W ⊙ s_W)   (DGE; ⊙ 1 with the straight-through estimator)
 *
 * jax-js has no custom_vjp, so the backward rules are written with `stopGradient`:
 * `sg(q) + (x − sg(x))` has the value q and the gradient of x (STE), and
 * `sg(q) + (x⊙sg(g) − sg(x⊙g))` has the value q and the gradient g (DGE). Both forward values are
 * exactly q, since x − x = 0 in floating point.
 *
 * `fp4LinearFn(config)` returns a `LinearFn` for `lmForward(..., { linearFn })`: the foundation LM
 * calls it at `attn.qkv`, `attn.out`, `mlp.up`, `mlp.gate` and `mlp.down`, so the same model
 * trains in fp32 or FP4; embeddings, the LM head, attention scores, norms and activation
 * functions stay float32 because they never go through it.
 */
import { np, lax, type Array } from "../../engine/index.js";
import { linear, type Linear, type LinearFn } from "../../nn/linear.js";

// ---------------------------------------------------------------------------------------------
// Formats (App. A, Table 4)
// ---------------------------------------------------------------------------------------------

export const FP4_FORMATS = ["e2m1", "e1m2", "e3m0"] as const;
export type FP4Format = (typeof FP4_FORMATS)[number];

/** Non-negative representable values of each 4-bit format (sign-symmetric; no Inf, no NaN). */
const POSITIVE_GRID: Record<FP4Format, readonly number[]> = {
  e2m1: [0, 0.5, 1, 1.5, 2, 3, 4, 6],
  e1m2: [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5],
  e3m0: [0, 0.25, 0.5, 1, 2, 4, 8, 16],
};

/** The 15 values of a format, ascending: −MAX … −min, 0, min … MAX. */
export function fp4Values(format: FP4Format): number[] {
  const pos = POSITIVE_GRID[format].slice(1);
  return [...pos.map((v) => -v).reverse(), 0, ...pos];
}

/** MAX_fp4: 6 for E2M1, 3.5 for E1M2, 16 for E3M0. */
export function fp4Max(format: FP4Format): number {
  const g = POSITIVE_GRID[format];
  return g[g.length - 1];
}

/**
 * Rounding thresholds: the midpoints between neighbouring values. For E2M1 these are the
 * paper's kernel constants −5, −3.5, −2.5, −1.75, −1.25, −0.75, −0.25, 0.25, … 5 (App. A).
 */
export function fp4Thresholds(format: FP4Format): number[] {
  const v = fp4Values(format);
  return v.slice(1).map((x, i) => (v[i] + x) / 2);
}

// ---------------------------------------------------------------------------------------------
// The look-up quantizer Q (App. A)
// ---------------------------------------------------------------------------------------------

/**
 * Q as the kernel writes it: round an already *scaled* value to the nearest representable FP4
 * value with strict comparisons (`x < t_i` picks the lower value), so a value exactly on a
 * threshold goes to the upper neighbour: 0.25 → 0.5, −0.25 → 0. Written as a sum of steps,
 * `Q(x) = v_0 + Σ_i [x ≥ t_i]·(v_{i+1} − v_i)`, which equals the kernel's if-chain exactly
 * (every partial sum is a multiple of 0.25, exact in float32). The reference for `fp4Round`.
 * Consumes x.
 */
export function lutQuantize(x: Array, format: FP4Format = "e2m1"): Array {
  const v = fp4Values(format);
  const t = fp4Thresholds(format);
  let q: Array = np.fullLike(x.ref, v[0]);
  for (let i = 0; i < t.length; i++) q = q.add(x.ref.greaterEqual(t[i]).astype(np.float32).mul(v[i + 1] - v[i]));
  x.dispose();
  return q;
}

const i32 = (v: number) => np.array(v, { dtype: np.int32 });

/*
 * Speed note. On the wasm backend, jax-js's float `abs`, `maximum` and `where` cost 4-6x an add
 * on large arrays of mixed-sign data (measured: 5.6 ms vs 0.9 ms per million elements, one
 * thread; they branch on the data), while integer max and bit operations do not. The hot paths
 * below therefore take |x| by clearing the sign bit and do their max/select in the integer
 * domain or with 0/1 masks. The values are the same.
 */

/** |x| by clearing the sign bit. Consumes x. */
export function absBits(x: Array): Array {
  return lax.bitcastConvertType(np.bitwiseAnd(lax.bitcastConvertType(x, np.int32), i32(0x7fffffff)), np.float32);
}

/**
 * Q in fewer operations, the same numbers as `lutQuantize` (tested on a dense grid, every
 * threshold and random data). E2M1 is a float with one mantissa bit, so within the binade of
 * |x| the grid step is s = max(2^(floor(log2|x|) − 1), 0.5) (read exactly from the exponent
 * bits), and Q(x) = s·roundHalfUp(x/s), clipped to ±6; E1M2's step is 0.5 everywhere.
 * `roundHalfUp(u) = floor(u) + [u − floor(u) ≥ 0.5]` is exact (u − floor(u) has no rounding)
 * and sends ties toward +∞ like the kernel's strict `<`. E3M0 uses the look-up. Consumes x.
 */
export function fp4Round(x: Array, format: FP4Format = "e2m1"): Array {
  if (format === "e3m0") return lutQuantize(x, format);
  let step: Array | number = 0.5;
  if (format === "e2m1") {
    const expBits = np.bitwiseAnd(lax.bitcastConvertType(x.ref, np.int32), i32(0x7f800000)); // |x| → 2^floor(log2|x|)
    // 2^(e−1), at least 0.5 (0x3f000000); for |x| < 2^−126 the subtraction goes negative and the max takes over.
    step = lax.bitcastConvertType(np.maximum(expBits.sub(i32(1 << 23)), i32(0x3f000000)), np.float32);
  }
  const u = x.div(typeof step === "number" ? step : step.ref); // exact: a power of two
  const n = np.floor(u.ref);
  const r = n.ref.add(u.sub(n).greaterEqual(0.5).astype(np.float32));
  const max = fp4Max(format);
  return np.clip(r.mul(step), -max, max);
}

// ---------------------------------------------------------------------------------------------
// Absmax scaling (Eq. 1) and granularity (§4.1, App. C.2)
// ---------------------------------------------------------------------------------------------

/**
 * Which vectors share one scale. For `x` of shape [..., C]:
 * - `token`: one scale per row (per token of an activation [B, T, C]), a max over the last axis;
 * - `channel`: one scale per last-axis index (per output channel of a weight stored [in, out]),
 *   a max over every other axis;
 * - `tensor`: one scale for the whole tensor.
 */
export const GRANULARITIES = ["token", "channel", "tensor"] as const;
export type Granularity = (typeof GRANULARITIES)[number];

/** max|x| per vector of the granularity, broadcastable against x. Consumes x. */
export function absMax(x: Array, granularity: Granularity): Array {
  const a = absBits(x);
  if (granularity === "token") return np.max(a, -1, { keepdims: true }); // [..., 1]
  if (granularity === "channel") return np.max(a.reshape([-1, a.shape[a.ndim - 1]]), 0); // [C]
  return np.max(a); // []
}

/**
 * 2^floor(log2(r)) for positive float32 r, exactly: the exponent field of r's bits with an empty
 * mantissa (no log2/exp2 rounding). Subnormal r gives 2^−127 → clamped to the smallest normal;
 * +Inf stays +Inf.
 */
function floorPow2(r: Array): Array {
  const bits = lax.bitcastConvertType(r, np.int32);
  const expField = np.maximum(np.bitwiseAnd(np.rightShift(bits, i32(23)), i32(255)), i32(1));
  return lax.bitcastConvertType(np.leftShift(expField, i32(23)), np.float32);
}

export type ScaleOptions = {
  granularity: Granularity;
  format?: FP4Format;
  /** The format's largest value (default MAX of `format`; 448 for FP8-E4M3). */
  max?: number;
  pow2Scale?: boolean;
};

/**
 * The scale γ = MAX_fp4 / max|x| (Eq. 1) per vector of the granularity, broadcastable against x.
 * An all-zero or non-finite vector gets γ = 1 (as MS-AMP's `compute_scaling_factor`).
 * `pow2Scale` rounds γ down to a power of two, 2^floor(log2(MAX/max|x|)), as the official
 * MS-AMP code does (the vector max then lands in (MAX/2, MAX]); the paper's Eq. (1) and the
 * default use the exact ratio. Consumes x.
 */
export function absmaxScale(x: Array, opts: ScaleOptions): Array {
  const { granularity, format = "e2m1", pow2Scale = false } = opts;
  const max = opts.max ?? fp4Max(format);
  const amax = absMax(x, granularity);
  const ok = np.logicalAnd(amax.ref.greater(0), np.isfinite(amax.ref)); // bool, like amax
  const safe = np.where(ok.ref, amax, 1);
  let gamma = np.full(safe.shape, max).div(safe);
  if (pow2Scale) gamma = floorPow2(gamma);
  return np.where(ok, gamma, 1);
}

// ---------------------------------------------------------------------------------------------
// Outlier clamping and compensation (Eq. 9, §3.2)
// ---------------------------------------------------------------------------------------------

/**
 * The quantile positions on a sorted vector of length c, as MS-AMP's `_apply_quantile_clipping`
 * computes them: lo = sorted[floor((1−α)·c)], hi = sorted[floor(α·c)] (capped at c − 1).
 * Evaluated in float64 like Python's `int((1 - a) * c)`, so (1 − 0.99)·100 = 1.0000000000000009 → 1.
 */
export function quantileIndices(alpha: number, c: number): { lo: number; hi: number } {
  if (!(alpha > 0.5 && alpha <= 1)) throw new Error(`clamp quantile α must be in (0.5, 1], got ${alpha}`);
  if (!(Number.isInteger(c) && c >= 1)) throw new Error(`quantileIndices: vector length must be a positive integer, got ${c}`);
  return { lo: Math.min(Math.floor((1 - alpha) * c), c - 1), hi: Math.min(Math.floor(alpha * c), c - 1) };
}

/**
 * The k-th largest (1-based, counting ties) along the last axis, [..., 1], by stepping down
 * through the distinct values: v ← max{x < v} until at least k entries are ≥ v. k passes of
 * two reductions; for the small k of a 0.97-0.999 quantile this is far cheaper on wasm than
 * `lax.topK` or `np.sort` (tested against both). Consumes x.
 */
export function kthLargest(x: Array, k: number): Array {
  let v = np.max(x.ref, -1, { keepdims: true }); // [..., 1]
  for (let i = 2; i <= k; i++) {
    const enough = x.ref.greaterEqual(v.ref).astype(np.float32).sum(-1, { keepdims: true }).greaterEqual(k);
    const below = np.max(np.where(x.ref.less(v.ref), x.ref, -Infinity), -1, { keepdims: true });
    v = np.where(enough, v, below);
  }
  x.dispose();
  return v;
}

/**
 * OCC's clamp of Eq. (9) along the last axis of `x` [..., c]: each row is clamped to
 * [sorted[floor((1−α)c)], sorted[floor(αc)]]. Returns the clamped rows and the residual
 * ΔX = X − X_c (non-zero at about 2(1−α) of the entries). Bounds that are the row's own
 * min/max (small rows, α near 1) are skipped: clamping to them is a no-op. Consumes x.
 */
export function quantileClampRows(x: Array, alpha: number): { clamped: Array; residual: Array } {
  const c = x.shape[x.ndim - 1];
  const { lo, hi } = quantileIndices(alpha, c);
  let clamped = x.ref;
  if (hi < c - 1) clamped = np.minimum(clamped, kthLargest(x.ref, c - hi)); // sorted[hi] = (c−hi)-th largest
  if (lo > 0) clamped = np.maximum(clamped, kthLargest(x.ref.neg(), lo + 1).neg()); // sorted[lo] = (lo+1)-th smallest
  const residual = x.sub(clamped.ref);
  return { clamped, residual };
}

/**
 * OCC's clamp along the axis a granularity scales over (as MS-AMP: token → each row,
 * channel → each column, tensor → the flattened tensor). Consumes x.
 */
export function quantileClamp(x: Array, alpha: number, axis: Granularity): { clamped: Array; residual: Array } {
  const shape = x.shape;
  if (axis === "token") return quantileClampRows(x, alpha);
  if (axis === "tensor") {
    const r = quantileClampRows(x.reshape([1, -1]), alpha);
    return { clamped: r.clamped.reshape(shape), residual: r.residual.reshape(shape) };
  }
  const C = shape[shape.length - 1];
  const r = quantileClampRows(np.transpose(x.reshape([-1, C])), alpha); // [C, N]
  return { clamped: np.transpose(r.clamped).reshape(shape), residual: np.transpose(r.residual).reshape(shape) };
}

// ---------------------------------------------------------------------------------------------
// Fake quantization: quantize, then dequantize (what the FP4 GEMM sees, in float32)
// ---------------------------------------------------------------------------------------------

export type ClampMode = "none" | "clamp" | "compensate";

export type QuantizeOptions = {
  format?: FP4Format;
  granularity: Granularity;
  pow2Scale?: boolean;
  /** OCC: `none`, `clamp` (clamp only, the residual is dropped) or `compensate` (clamp + ΔX). */
  clamp?: ClampMode;
  /** α of the quantile clamp (0.99 in the paper's main runs). */
  quantile?: number;
  /** Axis the clamp's quantiles run along; defaults to the granularity's (MS-AMP's rule). */
  clampAxis?: Granularity;
};

export type Quantized = {
  /** Q(X_c·γ)/γ (+ ΔX with compensation): the operand the FP4 GEMM multiplies. */
  value: Array;
  /** X_c·γ, the scaled (clamped) input before rounding: DGE's argument for weights. */
  scaled: Array;
  /** γ, broadcastable against X. */
  scale: Array;
};

/** Fake-quantize x to FP4 (Eq. 1, with OCC when asked). Pure values: no gradient rules. Consumes x. */
export function fp4Quantize(x: Array, opts: QuantizeOptions): Quantized {
  const { format = "e2m1", granularity, pow2Scale = false, clamp = "none", quantile = 0.99, clampAxis = granularity } = opts;
  let xc = x;
  let residual: Array | null = null;
  if (clamp !== "none") {
    const r = quantileClamp(x, quantile, clampAxis);
    xc = r.clamped;
    if (clamp === "compensate") residual = r.residual;
    else r.residual.dispose();
  }
  const scale = absmaxScale(xc.ref, { granularity, format, pow2Scale });
  const scaled = xc.mul(scale.ref);
  let value = fp4Round(scaled.ref, format).div(scale.ref);
  if (residual) value = value.add(residual);
  return { value, scaled, scale };
}

/** Just the fake-quantized value of `fp4Quantize`. Consumes x. */
export function fp4QuantizeValue(x: Array, opts: QuantizeOptions): Array {
  const q = fp4Quantize(x, opts);
  q.scaled.dispose();
  q.scale.dispose();
  return q.value;
}

// ---------------------------------------------------------------------------------------------
// The Differentiable Gradient Estimator (Eq. 7-8, §3.1)
// ---------------------------------------------------------------------------------------------

export type DGEOptions = { k?: number; cap?: number; format?: FP4Format };

/**
 * f'(x) of Eq. (8) on a *scaled* tensor, piecewise over the format's quantization intervals:
 * for x in [l, l + δ], f'(x) = min((1/k)·|2(x − l)/δ − 1|^(1/k − 1), cap). It is 1/k at the
 * representable points and `cap` (3.0) at the rounding midpoints. Without the cap it would
 * average exactly 1 over an interval (∫f' = δ); the cap cuts the spike at the midpoint, which
 * holds much of that mass, so with k = 5 and cap 3 the average is 1 − τ^(1/k) + 3τ ≈ 0.59
 * (τ = 15^(−5/4)). Defaults k = 5, cap = 3 (§4.1; MS-AMP `apply_DGE_item`). Computed on |x| (the grid
 * and so f' are symmetric); |x| is capped at MAX, where the official kernel returns 0 for x > 6
 * (which absmax scaling rules out up to a float32 rounding of the vector max). Consumes x.
 */
export function dgeDerivative(x: Array, opts: DGEOptions = {}): Array {
  const { k = 5, cap = 3, format = "e2m1" } = opts;
  if (!(k > 0)) throw new Error(`DGE: k must be positive, got ${k}`);
  const g = POSITIVE_GRID[format];
  const a = np.minimum(absBits(x), g[g.length - 1]);
  let t: Array; // |2(x − l)/δ − 1| ∈ [0, 1] for the interval [l, l + δ] holding |x|
  if (format === "e2m1") {
    // δ is fp4Round's grid step max(2^(floor(log2 a) − 1), 0.5) and l = δ·floor(a/δ), so
    // 2(a − l)/δ − 1 = 2·frac(a/δ) − 1. (At a = MAX = 6 this gives l = 6 instead of 4: both
    // ends of an interval have t = 1, so f' = 1/k either way.)
    const expBits = np.bitwiseAnd(lax.bitcastConvertType(a.ref, np.int32), i32(0x7f800000));
    const delta = lax.bitcastConvertType(np.maximum(expBits.sub(i32(1 << 23)), i32(0x3f000000)), np.float32);
    const u = a.div(delta); // exact
    t = absBits(u.ref.sub(np.floor(u)).mul(2).sub(1));
  } else {
    // Interval [l, l + δ] holding a: l = Σ_{i≥1} [a ≥ g_i]·(g_i − g_{i−1}); δ likewise, so that
    // a = MAX stays in the last interval.
    let l: Array = np.zerosLike(a.ref);
    let delta: Array = np.fullLike(a.ref, g[1] - g[0]);
    for (let i = 1; i < g.length - 1; i++) {
      const step = a.ref.greaterEqual(g[i]).astype(np.float32);
      l = l.add(step.ref.mul(g[i] - g[i - 1]));
      delta = delta.add(step.mul(g[i + 1] - g[i] - (g[i] - g[i - 1])));
    }
    t = absBits(a.sub(l).mul(2).div(delta).sub(1));
  }
  return np.minimum(np.power(t, 1 / k - 1).mul(1 / k), cap);
}

// ---------------------------------------------------------------------------------------------
// FP8-E4M3, for the 8-bit operand of the paper's W4A8 and W8A4 ablations (Fig. 6b, 6c)
// ---------------------------------------------------------------------------------------------

/** The largest FP8-E4M3 value (the OCP "fn" variant of H100 tensor cores: no Inf). */
export const E4M3_MAX = 448;

/**
 * Round a scaled value to FP8-E4M3: 3 mantissa bits, so the step in the binade of |x| is
 * 2^(floor(log2|x|) − 3), at least the subnormal step 2^−9; round half to even; saturate at ±448.
 * Consumes x.
 */
export function e4m3Round(x: Array): Array {
  const expBits = np.bitwiseAnd(lax.bitcastConvertType(x.ref, np.int32), i32(0x7f800000)); // 2^floor(log2|x|)
  const step = lax.bitcastConvertType(np.maximum(expBits.sub(i32(3 << 23)), i32(118 << 23)), np.float32); // ≥ 2^−9
  const u = x.div(step.ref); // exact
  const n = np.floor(u.ref);
  const f = u.sub(n.ref); // exact fraction in [0, 1)
  const odd = n.ref.sub(np.floor(n.ref.mul(0.5)).mul(2)); // 1 for odd n
  const up = f.ref.greater(0.5).astype(np.float32).add(f.equal(0.5).astype(np.float32).mul(odd));
  return np.clip(n.add(up).mul(step), -E4M3_MAX, E4M3_MAX);
}

/**
 * Fake-quantize to FP8-E4M3 with one power-of-two scale per tensor, 2^floor(log2(448/max|x|)),
 * as MS-AMP's FP8 `ScalingTensor` does. Consumes x.
 */
export function fp8QuantizeValue(x: Array): Array {
  const scale = absmaxScale(x.ref, { granularity: "tensor", max: E4M3_MAX, pow2Scale: true });
  return e4m3Round(x.mul(scale.ref)).div(scale);
}

/** An FP8 operand with the straight-through gradient. Consumes x. */
export function quantizeFP8(x: Array): Array {
  return fp8QuantizeValue(lax.stopGradient(x.ref)).add(x.ref.sub(lax.stopGradient(x)));
}

// ---------------------------------------------------------------------------------------------
// The FP4 linear layer
// ---------------------------------------------------------------------------------------------

/** How the weight operand is quantized. */
export type WeightQuant = {
  format: FP4Format;
  /** `channel` (per output channel, the paper) or `tensor` (the granularity ablation). */
  granularity: "channel" | "tensor";
  pow2Scale: boolean;
  /** `dge` (Eq. 8) or `ste` (straight-through: the gradient of the quantizer is 1). */
  estimator: "dge" | "ste";
  /** DGE sharpness k (5 in the paper) and the cap on f' (3.0). */
  k: number;
  cap: number;
};

/** How the activation operand is quantized. */
export type ActivationQuant = {
  format: FP4Format;
  /** `token` (per token, the paper) or `tensor` (the granularity ablation). */
  granularity: "token" | "tensor";
  pow2Scale: boolean;
  /** OCC: `compensate` (the method), `clamp` (clamp only) or `none` (direct cast). */
  occ: ClampMode;
  /** α of the clamp (0.99 in the paper). The quantiles always run per token (row), as in the paper. */
  quantile: number;
};

/** The sites of the foundation LM that may run in FP4 (Table 5: Q/K/V, attention output, FFN up/down). */
export const FP4_SITES = ["attn.qkv", "attn.out", "mlp.up", "mlp.gate", "mlp.down"] as const;

export type FP4LinearConfig = {
  /** FP4 settings; "fp8": FP8-E4M3 (W8 of the W8A4 ablation); null: float32. */
  weight: WeightQuant | "fp8" | null;
  /** FP4 settings; "fp8": FP8-E4M3 (A8 of the W4A8 ablation); null: float32. */
  activation: ActivationQuant | "fp8" | null;
  /** Which sites to quantize (default: all of FP4_SITES). */
  sites?: readonly string[];
};

export const defaultWeightQuant: WeightQuant = { format: "e2m1", granularity: "channel", pow2Scale: false, estimator: "dge", k: 5, cap: 3 };
export const defaultActivationQuant: ActivationQuant = { format: "e2m1", granularity: "token", pow2Scale: false, occ: "compensate", quantile: 0.99 };

/**
 * The activation operand: value Q(A_c)/γ + ΔA (or without ΔA, or no clamp), gradient passed
 * straight through (the clamp's too: with compensation ΔA restores what it cut). Consumes x.
 */
export function quantizeActivation(x: Array, c: ActivationQuant): Array {
  const q = fp4QuantizeValue(lax.stopGradient(x.ref), {
    format: c.format,
    granularity: c.granularity,
    pow2Scale: c.pow2Scale,
    clamp: c.occ,
    quantile: c.quantile,
    clampAxis: "token",
  });
  return q.add(x.ref.sub(lax.stopGradient(x))); // value q, gradient 1
}

/**
 * The weight operand [in, out]: value Q(W·s)/s, gradient f'(W·s) with DGE (App. C.2: the scales
 * cancel, so the derivative is evaluated on the scaled weight) or 1 with STE. Consumes w.
 */
export function quantizeWeight(w: Array, c: WeightQuant): Array {
  const q = fp4Quantize(lax.stopGradient(w.ref), { format: c.format, granularity: c.granularity, pow2Scale: c.pow2Scale });
  q.scale.dispose();
  if (c.estimator === "ste") {
    q.scaled.dispose();
    return q.value.add(w.ref.sub(lax.stopGradient(w)));
  }
  const g = lax.stopGradient(dgeDerivative(q.scaled, { k: c.k, cap: c.cap, format: c.format }));
  const t = w.mul(g); // W ⊙ sg(f'): gradient f'
  return q.value.add(t.ref.sub(lax.stopGradient(t))); // value Q(W), gradient f'
}

/** One FP4 linear: `y = Q(A)·Q(W) + b` with the gradient rules above. x: [..., in] -> [..., out]. */
export function fp4Linear(p: Linear, x: Array, cfg: FP4LinearConfig): Array {
  const a = cfg.activation === "fp8" ? quantizeFP8(x) : cfg.activation ? quantizeActivation(x, cfg.activation) : x; // [..., in]
  const w = cfg.weight === "fp8" ? quantizeFP8(p.w) : cfg.weight ? quantizeWeight(p.w, cfg.weight) : p.w; // [in, out]
  const y = np.matmul(a, w); // [..., out]
  return p.b ? y.add(p.b) : y;
}

/**
 * A `LinearFn` for `lmForward(params, cfg, tokens, { linearFn })`: FP4 at the configured sites,
 * the plain float32 linear elsewhere.
 */
export function fp4LinearFn(cfg: FP4LinearConfig): LinearFn {
  const sites = new Set(cfg.sites ?? FP4_SITES);
  for (const s of sites) {
    if (!(FP4_SITES as readonly string[]).includes(s)) throw new Error(`fp4: unknown linear site "${s}"; allowed: ${FP4_SITES.join(", ")}`);
  }
  if (!cfg.weight && !cfg.activation) return (p, x) => linear(p, x);
  return (p, x, site) => (sites.has(site) ? fp4Linear(p, x, cfg) : linear(p, x));
}
