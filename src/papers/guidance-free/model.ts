/**
 * Guidance-free training (GFT) beside classifier-free guidance (CFG), for diffusion models.
 *
 * Paper: "Visual Generation Without Guidance", Chen, Jiang, Zheng, Chen, Su, Zhu (arXiv 2501.15420),
 * objective as in the official code (thu-ml/GFT, `DiT/diffusion/gaussian_diffusion.py`, `DiT/models.py`).
 *
 * CFG (Ho & Salimans 2022) samples from p^s(x|c) ∝ p(x|c)·[p(x|c)/p(x)]^s with two network passes per step:
 *   ε_cfg = ε_u + w·(ε_c − ε_u),   w = 1 + s                                            (CFG sampler)
 * GFT keeps the ordinary conditional ε-prediction loss but writes the conditional model as a mix of an
 * explicit *sampling* model ε^s(x_t | c, β) and the unconditional model ε^u(x_t) = ε^s(x_t | ∅, β = 1):
 *   ε^c = β·ε^s(x_t | c, β) + (1 − β)·sg[ε^u(x_t)]                                       (GFT mixing)
 *   L   = E ‖ε − ε^c‖²  (mean over dimensions),  β ~ U(0, 1) per example, β = 1 where c was dropped  (GFT loss)
 * At the optimum ε^s = ε^c* + (1/β − 1)(ε^c* − ε^u*), i.e. the CFG prediction with w = 1/β; so after training
 * the sampling model alone, at β = 1/w, samples like CFG at w with one network evaluation per step.
 *
 * β enters as the DiT code does (`beta_in='linear'`): a sinusoidal embedding of β·1000 goes through a linear
 * projection (`betaProj`) and is added to the timestep's frequency embedding before the timestep MLP.
 * `betaProj` is zero-initialised when fine-tuning a CFG model (output unchanged at step 0) and N(0, 0.02)
 * when training from scratch. A CFG model simply has no `betaProj`.
 *
 * The noise schedule is DDPM's linear VP schedule (Ho et al. 2020, β_t from 1e-4 to 0.02 over N steps),
 * x_t = sqrt(ᾱ_t)·x_0 + sqrt(1 − ᾱ_t)·ε; sampling is deterministic DDIM (Song et al. 2021, η = 0).
 *
 * Library code: pure functions over typed params; parameters are consumed (pass `tree.ref(p)` to keep them);
 * no randomness inside (noise, t, labels and β come in as arrays, or from a host `Rng` passed in).
 */
import { np, jnn, lax, jit, tree, type Array } from "../../engine/index.js";
import { KeyGen, normalInit } from "../../nn/init.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";
import { initEmbedding, embed, type Embedding } from "../../nn/embedding.js";
import { initNorm, layerNorm, type LayerNorm } from "../../nn/norm.js";
import type { Rng } from "../../util/rng.js";

// ---------------------------------------------------------------------------------------------
// Noise schedule
// ---------------------------------------------------------------------------------------------

/** A discrete VP schedule: ᾱ_t for t = 0..N−1 (t = 0 is the least noisy level). */
export type VPSchedule = { steps: number; alphaBar: Float64Array };

/** DDPM's linear schedule: β_t = linspace(βmin, βmax, N), ᾱ_t = Π_{s≤t} (1 − β_s). */
export function linearVPSchedule(steps = 1000, betaMin = 1e-4, betaMax = 0.02): VPSchedule {
  if (!Number.isInteger(steps) || steps < 2) throw new Error(`schedule.steps: must be an integer >= 2, got ${steps}`);
  const alphaBar = new Float64Array(steps);
  let prod = 1;
  for (let t = 0; t < steps; t++) {
    const b = betaMin + ((betaMax - betaMin) * t) / (steps - 1);
    prod *= 1 - b;
    alphaBar[t] = prod;
  }
  return { steps, alphaBar };
}

/** DDIM time grid: `S` timesteps spaced evenly from N−1 down to 0 (descending, distinct). */
export function ddimTimesteps(schedule: VPSchedule, S: number): number[] {
  if (!Number.isInteger(S) || S < 1 || S > schedule.steps) throw new Error(`sample.ddimSteps: must be an integer in [1, ${schedule.steps}], got ${S}`);
  const ts: number[] = [];
  for (let i = 0; i < S; i++) ts.push(Math.round(((schedule.steps - 1) * (S - 1 - i)) / Math.max(S - 1, 1)));
  if (S === 1) return [schedule.steps - 1];
  return ts;
}

// ---------------------------------------------------------------------------------------------
// The conditional denoiser: residual MLP with adaLN conditioning, a null class and a β input
// ---------------------------------------------------------------------------------------------

export type DenoiserConfig = {
  /** Data dimension d (2 for the mixtures, side² for digits). */
  dataDim: number;
  /** Residual width H. */
  hidden: number;
  /** Number of residual blocks. */
  depth: number;
  /** Number of real classes K; index K is the null class ∅. */
  numClasses: number;
  /** Width of the sinusoidal frequency embeddings of t and β (even). */
  freqDim: number;
};

export type DenoiserBlock = { norm: LayerNorm; mod: Linear; up: Linear; down: Linear };
export type DenoiserParams = {
  inProj: Linear;
  /** Timestep MLP on the frequency embedding: freqDim -> H -> H. */
  tMlp1: Linear;
  tMlp2: Linear;
  /** Class embedding [K + 1, H]; row K is the null class. */
  classEmb: Embedding;
  /** β projection freqDim -> freqDim added to t's frequency embedding (absent in a CFG model). */
  betaProj?: Linear;
  blocks: DenoiserBlock[];
  outNorm: LayerNorm;
  out: Linear;
};

/**
 * Sinusoidal embedding (as DiT's `timestep_embedding`): v [B] -> [B, dim] =
 * [cos(v·f_0..f_{h−1}), sin(v·f_0..f_{h−1})], f_i = exp(−ln(maxPeriod)·i/h), h = dim/2.
 */
export function sinusoidalEmbedding(v: Array, dim: number, maxPeriod = 10000): Array {
  if (dim % 2 !== 0) throw new Error(`freqDim: must be even, got ${dim}`);
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(maxPeriod) * i) / half);
  const B = v.shape[0];
  const args = v.reshape([B, 1]).mul(np.array(freqs).reshape([1, half])); // [B, half]
  return np.concatenate([np.cos(args.ref), np.sin(args)], 1); // [B, dim]
}

/** Initialise a denoiser. `withBeta`: "none" (a CFG model), "scratch" (N(0, 0.02)) or "zero" (fine-tuning). */
export function initDenoiser(cfg: DenoiserConfig, seed: number, withBeta: "none" | "scratch" | "zero" = "none"): DenoiserParams {
  const kg = new KeyGen(seed, "denoiser");
  const H = cfg.hidden;
  const blocks: DenoiserBlock[] = [];
  for (let l = 0; l < cfg.depth; l++) {
    blocks.push({
      norm: initNorm("layer", H) as LayerNorm,
      mod: initLinear(kg, `blocks.${l}.mod`, H, 2 * H, { bias: true, std: 0.02 }),
      up: initLinear(kg, `blocks.${l}.up`, H, 2 * H, { bias: true, std: Math.sqrt(1 / H) }),
      down: initLinear(kg, `blocks.${l}.down`, 2 * H, H, { bias: true, std: Math.sqrt(1 / (2 * H)) / Math.sqrt(cfg.depth) }),
    });
  }
  const p: DenoiserParams = {
    inProj: initLinear(kg, "inProj", cfg.dataDim, H, { bias: true, std: Math.sqrt(1 / cfg.dataDim) }),
    tMlp1: initLinear(kg, "tMlp1", cfg.freqDim, H, { bias: true, std: 0.02 }),
    tMlp2: initLinear(kg, "tMlp2", H, H, { bias: true, std: 0.02 }),
    classEmb: initEmbedding(kg, "classEmb", cfg.numClasses + 1, H, 0.02),
    blocks,
    outNorm: initNorm("layer", H) as LayerNorm,
    out: initLinear(kg, "out", H, cfg.dataDim, { bias: true, std: 0.02 }),
  };
  if (withBeta !== "none") p.betaProj = withBeta === "zero" ? { w: np.zeros([cfg.freqDim, cfg.freqDim]) } : { w: normalInit(kg, "betaProj.w", [cfg.freqDim, cfg.freqDim], 0.02) };
  return p;
}

/** Add a zero-initialised β projection to a CFG model (GFT fine-tuning start; the output is unchanged). Consumes `p`. */
export function addZeroBetaProjection(p: DenoiserParams, cfg: DenoiserConfig): DenoiserParams {
  if (p.betaProj) return p;
  return { ...p, betaProj: { w: np.zeros([cfg.freqDim, cfg.freqDim]) } };
}

/**
 * ε-prediction f_θ(x_t, t, c, β). x [B, d]; t float [B] (timestep index); y int32 [B] (K = null class);
 * beta float [B] or null. A model without `betaProj` ignores β (a given `beta` is disposed).
 * Consumes `p` and the arrays. Returns [B, d].
 */
export function denoise(p: DenoiserParams, cfg: DenoiserConfig, x: Array, t: Array, y: Array, beta: Array | null): Array {
  let freq = sinusoidalEmbedding(t, cfg.freqDim); // [B, F]
  if (p.betaProj && beta) freq = freq.add(linear(p.betaProj, sinusoidalEmbedding(beta.mul(1000), cfg.freqDim))); // [B, F]
  else if (beta) beta.dispose();
  else if (p.betaProj) p.betaProj.w.dispose();
  const tEmb = linear(p.tMlp2, jnn.silu(linear(p.tMlp1, freq))); // [B, H]
  const c = jnn.silu(tEmb.add(embed(p.classEmb, y))); // [B, H]
  let h = linear(p.inProj, x); // [B, H]
  for (const b of p.blocks) {
    const [shift, scale] = np.split(linear(b.mod, c.ref), 2, 1); // each [B, H]
    const z = layerNorm(b.norm, h.ref).mul(scale.add(1)).add(shift); // [B, H]
    h = h.add(linear(b.down, jnn.silu(linear(b.up, z)))); // [B, H]
  }
  c.dispose();
  return linear(p.out, layerNorm(p.outNorm, h)); // [B, d]
}

// ---------------------------------------------------------------------------------------------
// Training objectives
// ---------------------------------------------------------------------------------------------

/**
 * The GFT mixing `β·out_s + (1 − β)·sg(out_u)` for outputs [B, ...] and β [B] (ε-space for diffusion,
 * logit-space for the autoregressive variant). `stopGradient = false` is the ablation that lets the
 * gradient flow through the unconditional pass.
 */
export function guidanceFreeMix(outS: Array, outU: Array, beta: Array, opts: { stopGradient?: boolean } = {}): Array {
  const { stopGradient = true } = opts;
  const shape = [beta.shape[0], ...Array.from({ length: outS.ndim - 1 }, () => 1)];
  const b = beta.reshape(shape); // [B, 1, ...]
  const u = stopGradient ? lax.stopGradient(outU) : outU;
  return b.ref.mul(outS).add(b.neg().add(1).mul(u));
}

/** A diffusion training batch (built on the host from a seeded Rng). */
export type DiffusionBatch = {
  /** Clean data x_0 [B, d]. */
  x0: Array;
  /** Noise ε [B, d]. */
  eps: Array;
  /** Timestep index t [B] (float). */
  t: Array;
  /** sqrt(ᾱ_t) [B] and sqrt(1 − ᾱ_t) [B]. */
  sqrtAb: Array;
  sqrt1mAb: Array;
  /** Labels int32 [B] with dropped conditions already replaced by the null class K. */
  y: Array;
  /** β [B] (1 where the condition was dropped); ignored by the CFG objective. */
  beta: Array;
};

/** x_t = sqrt(ᾱ_t)·x_0 + sqrt(1 − ᾱ_t)·ε; [B, d]. Consumes its arguments. */
export function qSample(x0: Array, eps: Array, sqrtAb: Array, sqrt1mAb: Array): Array {
  const B = x0.shape[0];
  return x0.mul(sqrtAb.reshape([B, 1])).add(eps.mul(sqrt1mAb.reshape([B, 1])));
}

/** CFG training loss: the plain conditional ε-MSE on labels with 10 % dropped to ∅ (Ho & Salimans 2022). */
export function cfgLoss(p: DenoiserParams, cfg: DenoiserConfig, b: DiffusionBatch): Array {
  b.beta.dispose();
  const xt = qSample(b.x0, b.eps.ref, b.sqrtAb, b.sqrt1mAb);
  const pred = denoise(p, cfg, xt, b.t, b.y, null);
  return np.square(b.eps.sub(pred)).mean();
}

/**
 * GFT training loss (paper's objective, official code's `rm_guidance` branch):
 *   ε^s = f_θ(x_t, t, c_or_∅, β);  ε^u = sg[f_θ(x_t, t, ∅, 1)];  L = mean ‖ε − (β·ε^s + (1 − β)·ε^u)‖².
 * Two network evaluations per update, one with gradient.
 */
export function gftLoss(p: DenoiserParams, cfg: DenoiserConfig, b: DiffusionBatch, opts: { stopGradient?: boolean } = {}): Array {
  const B = b.x0.shape[0];
  const xt = qSample(b.x0, b.eps.ref, b.sqrtAb, b.sqrt1mAb); // [B, d]
  const epsS = denoise(tree.ref(p), cfg, xt.ref, b.t.ref, b.y, b.beta.ref); // [B, d]
  const nullY = np.full([B], cfg.numClasses, { dtype: np.int32 });
  const epsU = denoise(p, cfg, xt, b.t, nullY, np.ones([B])); // [B, d]
  const epsC = guidanceFreeMix(epsS, epsU, b.beta, opts); // [B, d]
  return np.square(b.eps.sub(epsC)).mean();
}

/** Batch arrays in a fixed order, for `makeTrainStep`'s `batch: Array[]`. */
export function batchToArrays(b: DiffusionBatch): Array[] {
  return [b.x0, b.eps, b.t, b.sqrtAb, b.sqrt1mAb, b.y, b.beta];
}
export function arraysToBatch(a: Array[]): DiffusionBatch {
  const [x0, eps, t, sqrtAb, sqrt1mAb, y, beta] = a;
  return { x0, eps, t, sqrtAb, sqrt1mAb, y, beta };
}

/** Options of the host-side batch sampler. */
export type ConditionSampling = {
  /** Probability of replacing the label with ∅ (0.1 in DiT/LlamaGen). */
  classDropout: number;
  /** β ~ U(minBeta, maxBeta) per example (0 and 1 in the official code). */
  minBeta: number;
  maxBeta: number;
};

/**
 * Draw t, ε, dropped labels and β for one batch on the host (seeded `rng`). `x0` [B·d] and `labels` [B]
 * are the clean data. β is forced to 1 where the condition is dropped (`torch.where(drop_ids, 1.0, beta)`).
 */
export function makeDiffusionBatch(x0: Float32Array, labels: Int32Array, d: number, schedule: VPSchedule, cond: ConditionSampling, numClasses: number, rng: Rng): DiffusionBatch {
  const B = labels.length;
  const eps = new Float32Array(B * d);
  for (let i = 0; i < eps.length; i++) eps[i] = rng.normal();
  const t = new Float32Array(B);
  const sa = new Float32Array(B);
  const s1 = new Float32Array(B);
  const y = new Int32Array(B);
  const beta = new Float32Array(B);
  for (let i = 0; i < B; i++) {
    const ti = rng.int(schedule.steps);
    t[i] = ti;
    sa[i] = Math.sqrt(schedule.alphaBar[ti]);
    s1[i] = Math.sqrt(1 - schedule.alphaBar[ti]);
    const drop = rng.next() < cond.classDropout;
    const u = rng.next();
    y[i] = drop ? numClasses : labels[i];
    beta[i] = drop ? 1 : cond.minBeta + u * (cond.maxBeta - cond.minBeta);
  }
  return diffusionBatchFromHost({ x0, eps, t, sqrtAb: sa, sqrt1mAb: s1, y, beta }, B, d);
}

type HostNumbers = ArrayLike<number> & Iterable<number>;

/** Put a batch drawn on the host on the device: `x0`, `eps` [B·d]; `t`, `sqrtAb`, `sqrt1mAb`, `y`, `beta` [B]. */
export function diffusionBatchFromHost(h: Record<"x0" | "eps" | "t" | "sqrtAb" | "sqrt1mAb" | "y" | "beta", HostNumbers>, B: number, d: number): DiffusionBatch {
  const f32 = (a: HostNumbers) => np.array(Float32Array.from(a));
  return {
    x0: f32(h.x0).reshape([B, d]),
    eps: f32(h.eps).reshape([B, d]),
    t: f32(h.t),
    sqrtAb: f32(h.sqrtAb),
    sqrt1mAb: f32(h.sqrt1mAb),
    y: np.array(Int32Array.from(h.y), { dtype: np.int32 }),
    beta: f32(h.beta),
  };
}

// ---------------------------------------------------------------------------------------------
// Sampling: DDIM with conditional, CFG (2 passes) or GFT (1 pass at β = 1/w) predictions
// ---------------------------------------------------------------------------------------------

/** How the ε prediction of a step is formed. */
export type Guidance =
  /** Plain conditional model: one pass with label c (and β = 1 if the model has a β input). */
  | { kind: "cond" }
  /** CFG: ε_u + w·(ε_c − ε_u), two passes. */
  | { kind: "cfg"; w: number }
  /** GFT: the sampling model at β, one pass (β = 1/w to match CFG at w). */
  | { kind: "gft"; beta: number };

/** Network evaluations per sampling step for a guidance mode. */
export function nfePerStep(g: Guidance): number {
  return g.kind === "cfg" ? 2 : 1;
}

/**
 * A guided ε function for one step, jitted once per (config, shape): `eps(params, x, t, y, scalar)` where
 * scalar is w (CFG) or β (GFT/cond). Params are not consumed.
 */
export function makeGuidedEps(cfg: DenoiserConfig) {
  const cfgEps = jit((p: DenoiserParams, x: Array, t: Array, y: Array, w: Array) => {
    const B = x.shape[0];
    const hasBeta = Boolean(p.betaProj);
    const pc = tree.ref(p);
    const epsC = denoise(pc, cfg, x.ref, t.ref, y, hasBeta ? np.ones([B]) : null); // [B, d]
    const epsU = denoise(p, cfg, x, t, np.full([B], cfg.numClasses, { dtype: np.int32 }), hasBeta ? np.ones([B]) : null); // [B, d]
    return epsU.ref.add(epsC.sub(epsU).mul(w)); // ε_u + w(ε_c − ε_u)
  });
  const oneEps = jit((p: DenoiserParams, x: Array, t: Array, y: Array, beta: Array) => {
    const B = x.shape[0];
    return denoise(p, cfg, x, t, y, p.betaProj ? np.ones([B]).mul(beta) : (beta.dispose(), null));
  });
  return {
    eps(p: DenoiserParams, x: Array, t: Array, y: Array, g: Guidance): Array {
      const pr = tree.ref(p);
      if (g.kind === "cfg") return cfgEps(pr, x, t, y, np.array(g.w)) as Array;
      return oneEps(pr, x, t, y, np.array(g.kind === "gft" ? g.beta : 1)) as Array;
    },
    dispose() {
      cfgEps.dispose();
      oneEps.dispose();
    },
  };
}

/** One deterministic DDIM update (η = 0): x̂_0 = (x_t − sqrt(1−ᾱ_t)ε̂)/sqrt(ᾱ_t), x_prev = sqrt(ᾱ_prev)x̂_0 + sqrt(1−ᾱ_prev)ε̂. */
export function ddimUpdate(x: Array, epsHat: Array, abT: number, abPrev: number, clipX0: number | null): Array {
  let x0 = x.sub(epsHat.ref.mul(Math.sqrt(1 - abT))).mul(1 / Math.sqrt(abT));
  if (clipX0 !== null) x0 = np.clip(x0, -clipX0, clipX0);
  return x0.mul(Math.sqrt(abPrev)).add(epsHat.mul(Math.sqrt(1 - abPrev)));
}

export type SampleOptions = {
  /** Class label per sample (0..K−1). */
  labels: Int32Array;
  ddimSteps: number;
  guidance: Guidance;
  /** Host RNG for the initial noise x_T ~ N(0, I). */
  rng: Rng;
  /** Clip the predicted x̂_0 to [−c, c] (pixel-space images), or null. */
  clipX0?: number | null;
  /** Samples per network call (memory bound); default all at once. */
  chunk?: number;
  /** Reuse a jitted ε function across calls (see `makeGuidedEps`). */
  guidedEps?: ReturnType<typeof makeGuidedEps>;
};

/**
 * DDIM sampling from x_T ~ N(0, I) along `ddimSteps` timesteps. Params are not consumed.
 * Returns samples [n·d] and the number of network evaluations per sample (NFE).
 */
export async function sampleDDIM(p: DenoiserParams, cfg: DenoiserConfig, schedule: VPSchedule, o: SampleOptions): Promise<{ x: Float32Array; nfe: number }> {
  const n = o.labels.length;
  const d = cfg.dataDim;
  const chunk = o.chunk ?? n;
  const ts = ddimTimesteps(schedule, o.ddimSteps);
  const ge = o.guidedEps ?? makeGuidedEps(cfg);
  const out = new Float32Array(n * d);
  const noise = new Float32Array(n * d);
  for (let i = 0; i < noise.length; i++) noise[i] = o.rng.normal();
  for (let s0 = 0; s0 < n; s0 += chunk) {
    const B = Math.min(chunk, n - s0);
    let x = np.array(noise.subarray(s0 * d, (s0 + B) * d)).reshape([B, d]);
    const y = np.array(o.labels.subarray(s0, s0 + B), { dtype: np.int32 });
    for (let k = 0; k < ts.length; k++) {
      const tcur = ts[k];
      const abT = schedule.alphaBar[tcur];
      const abPrev = k + 1 < ts.length ? schedule.alphaBar[ts[k + 1]] : 1;
      const epsHat = ge.eps(p, x.ref, np.full([B], tcur), y.ref, o.guidance);
      x = ddimUpdate(x, epsHat, abT, abPrev, o.clipX0 ?? null);
    }
    y.dispose();
    out.set((await x.data()) as Float32Array, s0 * d);
  }
  if (!o.guidedEps) ge.dispose();
  return { x: out, nfe: ts.length * nfePerStep(o.guidance) };
}
