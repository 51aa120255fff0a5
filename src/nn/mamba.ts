/**
 * Mamba: the selective state-space block (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling
 * with Selective State Spaces", arXiv 2312.00752, Section 3 and Fig. 3), with the semantics and
 * initialisation of the reference module `mamba_simple.py` (state-spaces/mamba):
 *
 *   [u ; z]      = x · W_in                            in_proj  D → 2E        (no bias)
 *   u'           = SiLU(causal depthwise conv_k(u))    k = dConv = 4, with bias, groups = E
 *   [δ̃ ; B ; C]  = u' · W_x                            x_proj   E → R + 2N    (no bias)
 *   Δ            = softplus(δ̃ · W_dt + b_dt)           dt_proj  R → E         (with bias)
 *   A            = −exp(A_log)                          A_log [E, N], S4D-real init log(1..N)
 *   y            = selective_scan(u', Δ, A, B, C) + D ⊙ u'   (./selective-scan.ts), D init 1
 *   out          = (y ⊙ SiLU(z)) · W_out                out_proj E → D         (no bias)
 *
 * Defaults: N = dState = 16, dConv = 4, expand = 2 (E = 2D), R = dtRank = ceil(D / 16).
 * Initialisation: the linear layers and the conv use PyTorch's default U(±1/sqrt(fan_in));
 * W_dt ~ U(±R^-1/2); b_dt = softplus⁻¹(dt) with dt = exp(U(0,1)·(ln dtMax − ln dtMin) + ln dtMin)
 * clamped at ≥ dtInitFloor (dtMin 1e-3, dtMax 1e-1, floor 1e-4); A_log = log(1..N) for every
 * channel; D = 1. In the LM (mamba_ssm `MambaLMHeadModel`) the embedding is N(0, 0.02), the head is
 * tied, and each out_proj weight is divided by sqrt(number of blocks) (prenorm-residual rescaling).
 *
 * The residual wrapper is pre-RMSNorm, h ← h + Mamba(RMSNorm(h)); the LM stacks `blocksPerLayer`
 * (default 2) blocks per layer, so a layer has ≈ 2·3·E·D = 12D² parameters like a transformer layer.
 *
 * The four projections go through a `LinearFn` at the sites "mamba.in", "mamba.x", "mamba.dt" and
 * "mamba.out", so a paper can swap the matmul (e.g. modality-routed weights) without forking the
 * block. Parameters are typed plain objects; every function consumes its params (pass `tree.ref`).
 */
import { np, jnn, type Array } from "../engine/index.js";
import { KeyGen, uniformInit } from "./init.js";
import { denseLinear, linear, type Linear, type LinearFn } from "./linear.js";
import { embed, initEmbedding, unembed, type Embedding } from "./embedding.js";
import { rmsNorm, type RMSNorm } from "./norm.js";
import { selectiveScan, selectiveScanUnrolled } from "./selective-scan.js";

/** Hyper-parameters of one Mamba block. */
export type MambaConfig = {
  /** Residual width D. */
  dModel: number;
  /** SSM state size N (default 16). */
  dState: number;
  /** Depthwise causal conv width (default 4). */
  dConv: number;
  /** Inner width E = expand·D (default 2). */
  expand: number;
  /** Rank R of Δ's projection; "auto" = ceil(D / 16). */
  dtRank: number | "auto";
  /** Range of the initial Δ (log-uniform) and its floor. */
  dtMin: number;
  dtMax: number;
  dtInitFloor: number;
  /** Chunk length of the chunked selective scan; "unrolled" runs the per-step loop instead. */
  scanChunk: number | "unrolled";
};

export const defaultMambaConfig: MambaConfig = {
  dModel: 64,
  dState: 16,
  dConv: 4,
  expand: 2,
  dtRank: "auto",
  dtMin: 0.001,
  dtMax: 0.1,
  dtInitFloor: 1e-4,
  scanChunk: 16,
};

export type CausalConv = { w: Array; b: Array }; // w: [K, E] (w[j] multiplies x_{t-K+1+j}), b: [E]

export type MambaBlock = {
  inProj: Linear; // [D, 2E]
  conv: CausalConv;
  xProj: Linear; // [E, R + 2N]
  dtProj: Linear; // w [R, E], b [E]
  A_log: Array; // [E, N]
  D: Array; // [E]
  outProj: Linear; // [E, D]
};

export function innerWidth(cfg: Pick<MambaConfig, "dModel" | "expand">): number {
  return Math.round(cfg.expand * cfg.dModel);
}

export function dtRankOf(cfg: Pick<MambaConfig, "dModel" | "dtRank">): number {
  return cfg.dtRank === "auto" ? Math.ceil(cfg.dModel / 16) : cfg.dtRank;
}

export function validateMambaConfig(cfg: MambaConfig, where = "model"): void {
  const bad = (field: string, msg: string) => {
    throw new Error(`${where}.${field}: ${msg}`);
  };
  for (const f of ["dModel", "dState", "dConv"] as const) {
    if (!Number.isInteger(cfg[f]) || cfg[f] < 1) bad(f, `must be a positive integer, got ${cfg[f]}`);
  }
  if (!(cfg.expand > 0) || !Number.isInteger(innerWidth(cfg)) || innerWidth(cfg) < 1) bad("expand", `must make expand·dModel a positive integer, got ${cfg.expand}`);
  if (cfg.dtRank !== "auto" && (!Number.isInteger(cfg.dtRank) || cfg.dtRank < 1)) bad("dtRank", `must be "auto" or a positive integer, got ${cfg.dtRank}`);
  if (!(cfg.dtMin > 0 && cfg.dtMax >= cfg.dtMin)) bad("dtMin", `need 0 < dtMin <= dtMax, got ${cfg.dtMin}, ${cfg.dtMax}`);
  if (!(cfg.dtInitFloor > 0)) bad("dtInitFloor", `must be > 0, got ${cfg.dtInitFloor}`);
  if (cfg.scanChunk !== "unrolled" && (!Number.isInteger(cfg.scanChunk) || cfg.scanChunk < 1)) {
    bad("scanChunk", `must be "unrolled" or a positive integer, got ${cfg.scanChunk}`);
  }
}

/** PyTorch's default nn.Linear init: W ~ U(±1/sqrt(in)), stored [in, out]. */
function torchLinear(kg: KeyGen, name: string, dIn: number, dOut: number, scale = 1): Linear {
  const bound = 1 / Math.sqrt(dIn);
  const w = uniformInit(kg, `${name}.w`, [dIn, dOut], -bound, bound);
  return { w: scale === 1 ? w : w.mul(scale) };
}

/** softplus⁻¹ of the initial Δ, drawn log-uniform in [dtMin, dtMax] and floored (mamba_simple.py). */
export function initDtBias(kg: KeyGen, name: string, E: number, cfg: Pick<MambaConfig, "dtMin" | "dtMax" | "dtInitFloor">): Array {
  const r = uniformInit(kg, name, [E], 0, 1);
  const lo = Math.log(cfg.dtMin);
  const hi = Math.log(cfg.dtMax);
  const dt = np.maximum(np.exp(r.mul(hi - lo).add(lo)), cfg.dtInitFloor); // [E]
  return dt.ref.add(np.log(np.expm1(dt.neg()).neg())); // dt + log(−expm1(−dt)) = softplus⁻¹(dt)
}

/**
 * One Mamba block's parameters. `outScale` multiplies W_out (the LM passes 1/sqrt(blocks)).
 * Every parameter's key comes from `name`, so two calls with different names are independent draws.
 */
export function initMambaBlock(kg: KeyGen, name: string, cfg: MambaConfig, opts: { outScale?: number } = {}): MambaBlock {
  validateMambaConfig(cfg);
  const D = cfg.dModel;
  const E = innerWidth(cfg);
  const N = cfg.dState;
  const R = dtRankOf(cfg);
  const K = cfg.dConv;
  const cb = 1 / Math.sqrt(K); // conv fan_in = (E / groups) · K = K
  const dtStd = 1 / Math.sqrt(R);
  const aLog = np.array(Float32Array.from({ length: N }, (_, n) => Math.log(n + 1))); // [N], log(1..N)
  return {
    inProj: torchLinear(kg, `${name}.in_proj`, D, 2 * E),
    conv: { w: uniformInit(kg, `${name}.conv.w`, [K, E], -cb, cb), b: uniformInit(kg, `${name}.conv.b`, [E], -cb, cb) },
    xProj: torchLinear(kg, `${name}.x_proj`, E, R + 2 * N),
    dtProj: { w: uniformInit(kg, `${name}.dt_proj.w`, [R, E], -dtStd, dtStd), b: initDtBias(kg, `${name}.dt_proj.b`, E, cfg) },
    A_log: np.broadcastTo(aLog.reshape([1, N]), [E, N]).add(0), // [E, N]
    D: np.ones([E]),
    outProj: torchLinear(kg, `${name}.out_proj`, E, D, opts.outScale ?? 1),
  };
}

/** Causal depthwise conv over time: u [B, T, E] → [B, T, E], y_t = Σ_j w[j] ⊙ u_{t−K+1+j} + b. */
export function causalDepthwiseConv(p: CausalConv, u: Array): Array {
  const K = p.w.shape[0];
  const T = u.shape[1];
  const up = np.pad(u, [[0, 0], [K - 1, 0], [0, 0]]); // [B, T+K-1, E]
  let y: Array | null = null;
  for (let j = 0; j < K; j++) {
    const term = up.ref.slice([], [j, j + T]).mul(p.w.ref.slice(j)); // [B, T, E] ⊙ [E]
    y = y ? y.add(term) : term;
  }
  up.dispose();
  p.w.dispose();
  return y!.add(p.b);
}

/** softplus(x) = max(x, 0) + log1p(exp(−|x|)), without overflow for large x. */
export function softplus(x: Array): Array {
  return np.maximum(x.ref, 0).add(np.log1p(np.exp(np.abs(x).neg())));
}

/** The Mamba mixer: x [B, T, D] → [B, T, D]. Consumes `p` and `x`. */
export function mambaMixer(p: MambaBlock, x: Array, cfg: MambaConfig, linearFn: LinearFn = denseLinear): Array {
  const E = p.D.shape[0];
  const N = p.A_log.shape[1];
  const R = p.dtProj.w.shape[p.dtProj.w.shape.length - 2];
  const xz = linearFn(p.inProj, x, "mamba.in"); // [B, T, 2E]
  const u = jnn.silu(causalDepthwiseConv(p.conv, xz.ref.slice([], [], [0, E]))); // [B, T, E]
  const z = xz.slice([], [], [E, 2 * E]); // [B, T, E]
  const xdbl = linearFn(p.xProj, u.ref, "mamba.x"); // [B, T, R + 2N]
  const dtIn = xdbl.ref.slice([], [], [0, R]); // [B, T, R]
  const Bm = xdbl.ref.slice([], [], [R, R + N]); // [B, T, N]
  const Cm = xdbl.slice([], [], [R + N, R + 2 * N]); // [B, T, N]
  const delta = softplus(linearFn(p.dtProj, dtIn, "mamba.dt")); // [B, T, E]
  const A = np.exp(p.A_log).neg(); // [E, N]
  const y =
    cfg.scanChunk === "unrolled"
      ? selectiveScanUnrolled(u, delta, A, Bm, Cm, p.D)
      : selectiveScan(u, delta, A, Bm, Cm, p.D, { chunk: cfg.scanChunk }); // [B, T, E]
  return linearFn(p.outProj, y.mul(jnn.silu(z)), "mamba.out"); // [B, T, D]
}

// ---------------------------------------------------------------------------------------------
// Residual block and language model

export type MambaResidual = { norm: RMSNorm; mixer: MambaBlock };

/** h + Mamba(RMSNorm(h)). Consumes `p` and `h`. */
export function mambaResidual(p: MambaResidual, h: Array, cfg: MambaConfig, linearFn: LinearFn = denseLinear): Array {
  return h.ref.add(mambaMixer(p.mixer, rmsNorm(p.norm, h), cfg, linearFn));
}

/** A Mamba language model, in the config style of the transformer LM (`LMConfig`). */
export type MambaLMConfig = MambaConfig & {
  vocabSize: number;
  /** Number of layers; each holds `blocksPerLayer` residual Mamba blocks. */
  nLayers: number;
  blocksPerLayer: number;
  /** Share the output head with the token embedding (mamba_ssm default). */
  tiedHead: boolean;
};

export const defaultMambaLMConfig: MambaLMConfig = {
  ...defaultMambaConfig,
  vocabSize: 256,
  nLayers: 2,
  blocksPerLayer: 2,
  tiedHead: true,
};

export type MambaLMParams = { wte: Embedding; blocks: MambaResidual[]; normF: RMSNorm; head?: Linear };

export function validateMambaLMConfig(cfg: MambaLMConfig): void {
  validateMambaConfig(cfg);
  for (const f of ["vocabSize", "nLayers", "blocksPerLayer"] as const) {
    if (!Number.isInteger(cfg[f]) || cfg[f] < 1) throw new Error(`model.${f}: must be a positive integer, got ${cfg[f]}`);
  }
}

/** Initialise one residual block `i` of the LM (its keys are `blocks.i.*`). */
export function initMambaResidual(kg: KeyGen, cfg: MambaLMConfig, i: number): MambaResidual {
  const nBlocks = cfg.nLayers * cfg.blocksPerLayer;
  return { norm: { g: np.ones([cfg.dModel]) }, mixer: initMambaBlock(kg, `blocks.${i}.mixer`, cfg, { outScale: 1 / Math.sqrt(nBlocks) }) };
}

export function initMambaLM(cfg: MambaLMConfig, seed: number): MambaLMParams {
  validateMambaLMConfig(cfg);
  const kg = new KeyGen(seed);
  const nBlocks = cfg.nLayers * cfg.blocksPerLayer;
  const blocks = Array.from({ length: nBlocks }, (_, i) => initMambaResidual(kg, cfg, i));
  const p: MambaLMParams = { wte: initEmbedding(kg, "wte", cfg.vocabSize, cfg.dModel), blocks, normF: { g: np.ones([cfg.dModel]) } };
  if (!cfg.tiedHead) p.head = { w: uniformInit(kg, "head.w", [cfg.dModel, cfg.vocabSize], -1 / Math.sqrt(cfg.dModel), 1 / Math.sqrt(cfg.dModel)) };
  return p;
}

export type MambaForwardOptions = {
  linearFn?: LinearFn;
  /** Replaces `wte(tokens)`: [B, T, D] input embeddings. */
  inputEmbeds?: Array;
  /** Also return the final hidden state (after the last RMSNorm) [B, T, D]. */
  returnHidden?: boolean;
};

/** Forward pass: tokens int32 [B, T] → logits [B, T, V]. Consumes `p` and `tokens`. */
export function mambaLMForward(p: MambaLMParams, cfg: MambaLMConfig, tokens: Array | null, opts: MambaForwardOptions = {}): { logits: Array; hidden?: Array } {
  const linearFn = opts.linearFn ?? denseLinear;
  let x: Array;
  if (opts.inputEmbeds) {
    tokens?.dispose();
    x = opts.inputEmbeds;
    if (!cfg.tiedHead) p.wte.table.dispose();
  } else {
    if (!tokens) throw new Error("mambaLMForward: tokens or inputEmbeds required");
    x = embed(cfg.tiedHead ? { table: p.wte.table.ref } : p.wte, tokens); // [B, T, D]
  }
  for (const b of p.blocks) x = mambaResidual(b, x, cfg, linearFn);
  const h = rmsNorm(p.normF, x); // [B, T, D]
  const head = (hh: Array) => (p.head ? linear(p.head, hh) : unembed(p.wte, hh));
  if (opts.returnHidden) return { logits: head(h.ref), hidden: h };
  return { logits: head(h) };
}

/** Parameters of one Mamba block (≈ 3·E·D + E·(R + 2N) + R·E + E·(N + K + 3)). */
export function mambaBlockParams(cfg: MambaConfig): number {
  const D = cfg.dModel;
  const E = innerWidth(cfg);
  const N = cfg.dState;
  const R = dtRankOf(cfg);
  return D * 2 * E + cfg.dConv * E + E + E * (R + 2 * N) + R * E + E + E * N + E + E * D;
}
