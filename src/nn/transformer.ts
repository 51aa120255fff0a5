/**
 * A decoder-only transformer language model (GPT-2 layout, Radford et al. 2019, with the common
 * modern switches: RMSNorm, RoPE, SwiGLU, tied head). Parameters are a typed plain object; the
 * forward pass is a pure function, so it can be `jit`-ed, differentiated and reused by the papers:
 * `linearFn` swaps the matmul at each named site, `inputEmbeds` replaces the token embedding
 * (over-encoding, other modalities), and `returnHidden` exposes the last hidden state.
 */
import { np, type Array } from "../engine/index.js";
import { KeyGen } from "./init.js";
import { embed, initEmbedding, unembed, ONEHOT_MAX_VOCAB, type Embedding } from "./embedding.js";
import { initLinear, linear, denseLinear, type Linear, type LinearFn } from "./linear.js";
import { initNorm, norm, type Norm, type NormKind } from "./norm.js";
import { attention, attentionDecode, attentionDecodeSplit, attentionWithKV, initAttention, mergeRecentKV, type Attention, type KVLayer } from "./attention.js";
import { initMLP, mlp, type MLP, type MLPKind } from "./mlp.js";

export type LMConfig = {
  /** Vocabulary size V. */
  vocabSize: number;
  /** Residual width D. */
  dModel: number;
  /** Number of blocks L. */
  nLayers: number;
  /** Attention heads H (D must be divisible by H). */
  nHeads: number;
  /** Maximum context T. */
  contextLength: number;
  /** "rms" (RMSNorm) or "layer" (LayerNorm). */
  norm: NormKind;
  /** "rope" (rotary) or "learned" absolute positions. */
  pos: "rope" | "learned";
  /** "gelu" MLP or "swiglu". */
  mlp: MLPKind;
  /** MLP hidden width = mlpRatio·D (SwiGLU commonly uses 8/3). */
  mlpRatio: number;
  /**
   * Round the MLP hidden width up to a multiple of this (LLaMA's `multiple_of`); unset: mlpRatio·D rounded.
   * jax-js runs matmuls whose widths are multiples of 4 on its SIMD kernels, others up to 5x slower.
   */
  mlpMultipleOf?: number;
  /**
   * Pad the time axis of `lmForward` with zero rows up to a multiple of this, and slice them off before the head.
   * Causal attention keeps the padding out of every real position, so the outputs are the same function (a speed
   * switch: jax-js's SIMD matmuls want sequence lengths that are multiples of 4). Unset: no padding.
   */
  seqMultipleOf?: number;
  /** Share the output head with the token embedding. */
  tiedHead: boolean;
  /** Biases in linear layers. */
  bias: boolean;
};

export const defaultLMConfig: LMConfig = {
  vocabSize: 256,
  dModel: 128,
  nLayers: 2,
  nHeads: 4,
  contextLength: 128,
  norm: "layer",
  pos: "learned",
  mlp: "gelu",
  mlpRatio: 4,
  tiedHead: true,
  bias: false,
};

export type Block = { ln1: Norm; attn: Attention; ln2: Norm; mlp: MLP };
export type LMParams = {
  wte: Embedding;
  wpe?: Embedding;
  blocks: Block[];
  lnF: Norm;
  head?: Linear;
};

export function mlpHidden(cfg: LMConfig): number {
  return mlpWidth(cfg.dModel, cfg.mlpRatio, cfg.mlpMultipleOf);
}

/** The MLP hidden width: ratio·D rounded, then up to a multiple of `multipleOf` (1 when unset). */
export function mlpWidth(dModel: number, ratio: number, multipleOf = 1): number {
  return Math.ceil(Math.max(1, Math.round(ratio * dModel)) / multipleOf) * multipleOf;
}

export function validateLMConfig(cfg: LMConfig): void {
  const bad = (field: string, msg: string) => {
    throw new Error(`model.${field}: ${msg}`);
  };
  for (const f of ["vocabSize", "dModel", "nLayers", "nHeads", "contextLength"] as const) {
    if (!Number.isInteger(cfg[f]) || cfg[f] < 1) bad(f, `must be a positive integer, got ${cfg[f]}`);
  }
  if (cfg.dModel % cfg.nHeads !== 0) bad("nHeads", `must divide dModel (${cfg.dModel}), got ${cfg.nHeads}`);
  if (cfg.pos === "rope" && (cfg.dModel / cfg.nHeads) % 2 !== 0) bad("nHeads", "head width dModel/nHeads must be even for RoPE");
  for (const f of ["mlpMultipleOf", "seqMultipleOf"] as const) {
    const v = cfg[f];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) bad(f, `must be a positive integer or unset, got ${v}`);
  }
}

/** GPT-2 init: N(0, 0.02), residual output projections scaled by 1/sqrt(2L). */
export function initLM(cfg: LMConfig, seed: number): LMParams {
  validateLMConfig(cfg);
  const kg = new KeyGen(seed);
  const D = cfg.dModel;
  const outStd = 0.02 / Math.sqrt(2 * cfg.nLayers);
  const blocks: Block[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    blocks.push({
      ln1: initNorm(cfg.norm, D),
      attn: initAttention(kg, `blocks.${l}.attn`, D, { bias: cfg.bias, outStd }),
      ln2: initNorm(cfg.norm, D),
      mlp: initMLP(kg, `blocks.${l}.mlp`, D, mlpHidden(cfg), cfg.mlp, { bias: cfg.bias, outStd }),
    });
  }
  const p: LMParams = { wte: initEmbedding(kg, "wte", cfg.vocabSize, D), blocks, lnF: initNorm(cfg.norm, D) };
  if (cfg.pos === "learned") p.wpe = initEmbedding(kg, "wpe", cfg.contextLength, D, 0.01);
  if (!cfg.tiedHead) p.head = initLinear(kg, "head", D, cfg.vocabSize);
  return p;
}

export type ForwardOptions = {
  linearFn?: LinearFn;
  /** Replaces `wte(tokens)`: [B, T, D] input embeddings (token embedding is then not used). */
  inputEmbeds?: Array;
  /** Also return the final hidden state (after lnF) [B, T, D]. */
  returnHidden?: boolean;
  /**
   * Compute the logits only at selected positions: a one-hot [B, R, T] (row r of sequence b picks one position, or
   * none when all zero); the logits are then [B, R, V] (the head applied to `headRows · hidden`, the same values as
   * at those positions of the full logits). For losses that read a few positions of long sequences.
   */
  headRows?: Array;
};

/** Shared token/position embedding of the input: [B, T, D]. */
function embedInput(p: LMParams, cfg: LMConfig, tokens: Array | null, T: number, opts: ForwardOptions): Array {
  let x: Array;
  if (opts.inputEmbeds) {
    x = opts.inputEmbeds;
  } else {
    if (!tokens) throw new Error("lmForward: tokens or inputEmbeds required");
    // One-hot lookup (a matmul gradient instead of jax-js's single-threaded scatter) only where the
    // incoming gradient is materialised: see `EmbedVia` in embedding.ts.
    const via = cfg.pos === "learned" && cfg.vocabSize <= ONEHOT_MAX_VOCAB ? "onehot" : "gather";
    x = embed(cfg.tiedHead ? { table: p.wte.table.ref } : p.wte, tokens, via); // [B, T, D]
  }
  if (p.wpe) {
    if (T > cfg.contextLength) throw new Error(`sequence length ${T} exceeds model.contextLength ${cfg.contextLength}`);
    const pos = p.wpe.table.slice([0, T]); // [T, D]
    x = x.add(pos);
  }
  return x;
}

function headLogits(p: LMParams, h: Array): Array {
  return p.head ? linear(p.head, h) : unembed(p.wte, h);
}

/**
 * Forward pass. Consumes `p` (pass `tree.ref(params)` to keep them). tokens: int32 [B, T].
 * Returns logits [B, T, V] (and the hidden state when asked).
 */
export function lmForward(p: LMParams, cfg: LMConfig, tokens: Array | null, opts: ForwardOptions = {}): { logits: Array; hidden?: Array } {
  const linearFn = opts.linearFn ?? denseLinear;
  const T = opts.inputEmbeds ? opts.inputEmbeds.shape[1] : tokens!.shape[1];
  if (opts.inputEmbeds && tokens) tokens.dispose();
  // Untied head with replaced input embeddings: the token table is not used at all.
  if (!cfg.tiedHead && opts.inputEmbeds) p.wte.table.dispose();
  let x = embedInput(p, cfg, tokens, T, opts);
  const m = cfg.seqMultipleOf ?? 1;
  const pad = (m - (T % m)) % m;
  // Zero rows after the last position: causal attention never lets a real position read them.
  if (pad > 0) x = np.concatenate([x, np.zeros([x.shape[0], pad, x.shape[2]], { dtype: x.dtype })], 1);
  const attnOpts = { nHeads: cfg.nHeads, rope: cfg.pos === "rope", linearFn };
  for (const b of p.blocks) {
    x = x.ref.add(attention(b.attn, norm(b.ln1, x), attnOpts));
    x = x.ref.add(mlp(b.mlp, norm(b.ln2, x), linearFn));
  }
  if (pad > 0) x = x.slice([], [0, T]);
  const h = norm(p.lnF, x); // [B, T, D]
  const at = (hh: Array) => (opts.headRows ? np.matmul(opts.headRows, hh) : hh);
  if (opts.returnHidden) {
    return { logits: headLogits(p, at(h.ref)), hidden: h };
  }
  return { logits: headLogits(p, at(h)) };
}

/** A decoding cache: per layer keys/values [B, Tmax, H, hd]. */
export type KVCache = KVLayer[];

export function initKVCache(cfg: LMConfig, batch: number, maxLen = cfg.contextLength): KVCache {
  const hd = cfg.dModel / cfg.nHeads;
  return Array.from({ length: cfg.nLayers }, () => ({
    k: np.zeros([batch, maxLen, cfg.nHeads, hd]),
    v: np.zeros([batch, maxLen, cfg.nHeads, hd]),
  }));
}

/** One decode step's input embeddings [B, 1, D]: the token's embedding plus the learned position (if any). Consumes `tokens`. */
function decodeInput(p: LMParams, cfg: LMConfig, tokens: Array, pos: Array): Array {
  const B = tokens.shape[0];
  const x = embed({ table: cfg.tiedHead ? p.wte.table.ref : p.wte.table }, tokens.reshape([B, 1]));
  return p.wpe ? x.add(np.take(p.wpe.table, pos.ref.reshape([1]), 0)) : x;
}

/**
 * One decoding step with a KV cache: tokens int32 [B] at absolute position `pos` (int32 scalar
 * array); `valid` [B, Tmax] marks real (non-padding) positions. Returns logits [B, V] and the new
 * cache. Consumes `p`, `cache` and the arrays.
 */
export function lmDecodeStep(
  p: LMParams,
  cfg: LMConfig,
  tokens: Array,
  pos: Array,
  valid: Array,
  cache: KVCache,
  opts: { linearFn?: LinearFn } = {},
): { logits: Array; cache: KVCache } {
  const linearFn = opts.linearFn ?? denseLinear;
  const B = tokens.shape[0];
  let x = decodeInput(p, cfg, tokens, pos);
  const attnOpts = { nHeads: cfg.nHeads, rope: cfg.pos === "rope", linearFn };
  const next: KVCache = [];
  p.blocks.forEach((b, l) => {
    const r = attentionDecode(b.attn, norm(b.ln1, x.ref), cache[l], pos.ref, valid.ref, attnOpts);
    next.push(r.cache);
    x = x.add(r.y);
    x = x.ref.add(mlp(b.mlp, norm(b.ln2, x), linearFn));
  });
  pos.dispose();
  valid.dispose();
  const h = norm(p.lnF, x).reshape([B, cfg.dModel]);
  const logits = p.head ? linear(p.head, h) : unembed(p.wte, h);
  return { logits, cache: next };
}

/**
 * `lmDecodeStep` over a two-level cache (see `attentionDecodeSplit`): `main` is read, not
 * rewritten (pass a reference); `recent` gets this token's key/value at `slot`. `bias` [B, Tmax +
 * K]: 0 where a main slot or recent slot may be attended, -1e9 elsewhere. Returns the logits and
 * the new `recent`; merge it into `main` with `mergeRecentCache` when full. Consumes everything.
 */
export function lmDecodeStepSplit(
  p: LMParams,
  cfg: LMConfig,
  tokens: Array,
  pos: Array,
  slot: Array,
  bias: Array,
  main: KVCache,
  recent: KVCache,
  opts: { linearFn?: LinearFn } = {},
): { logits: Array; recent: KVCache } {
  const linearFn = opts.linearFn ?? denseLinear;
  const B = tokens.shape[0];
  let x = decodeInput(p, cfg, tokens, pos);
  const attnOpts = { nHeads: cfg.nHeads, rope: cfg.pos === "rope", linearFn };
  const next: KVCache = [];
  p.blocks.forEach((b, l) => {
    const r = attentionDecodeSplit(b.attn, norm(b.ln1, x.ref), main[l], recent[l], pos.ref, slot.ref, bias.ref, attnOpts);
    next.push(r.recent);
    x = x.add(r.y);
    x = x.ref.add(mlp(b.mlp, norm(b.ln2, x), linearFn));
  });
  pos.dispose();
  slot.dispose();
  bias.dispose();
  const h = norm(p.lnF, x).reshape([B, cfg.dModel]);
  const logits = p.head ? linear(p.head, h) : unembed(p.wte, h);
  return { logits, recent: next };
}

/** Every layer's `recent` written into `main` at slots base.. (see `mergeRecentKV`). Consumes all. */
export function mergeRecentCache(main: KVCache, recent: KVCache, base: Array): KVCache {
  const out = main.map((m, l) => mergeRecentKV(m, recent[l], base.ref));
  base.dispose();
  return out;
}

/**
 * Batched prefill for KV-cache decoding: one causal forward pass over left-padded prompts
 * tokens int32 [B, L] with `valid` [B, L] (1 = real token, 0 = left padding; padding keys get a
 * -1e9 score bias). Returns the logits [B, V] and final hidden state [B, D] at the last position,
 * and a cache with `maxLen` slots whose first L hold the prompts' keys/values (slot = absolute
 * position, as in `lmDecodeStep`). Consumes `p` and the arrays. Exact for RoPE; with learned
 * positions left padding shifts positions, as in step-by-step prefill. `headsLast` (default true): attention by
 * `attendHeadsLast` (same values, faster output projection); false: `jnn.dotProductAttention`.
 */
export function lmPrefill(
  p: LMParams,
  cfg: LMConfig,
  tokens: Array,
  valid: Array,
  maxLen = cfg.contextLength,
  opts: { linearFn?: LinearFn; inputEmbeds?: Array; headsLast?: boolean; posOffset?: number } = {},
): { logits: Array; hidden: Array; cache: KVCache } {
  const linearFn = opts.linearFn ?? denseLinear;
  const [B, L] = tokens.shape;
  if (opts.posOffset && cfg.pos !== "rope") throw new Error("lmPrefill: posOffset needs RoPE positions (pos: \"rope\")");
  if (L > maxLen) throw new Error(`lmPrefill: prompt length ${L} exceeds the cache length ${maxLen}`);
  if (opts.inputEmbeds) {
    // Replaced input embeddings [B, L, D] (e.g. image tokens spliced in); `tokens` only gives the shape.
    if (opts.inputEmbeds.shape[0] !== B || opts.inputEmbeds.shape[1] !== L) throw new Error(`lmPrefill: inputEmbeds shape [${opts.inputEmbeds.shape}] does not match tokens [${B}, ${L}]`);
    tokens.dispose();
    if (!cfg.tiedHead) p.wte.table.dispose();
  }
  let x = embedInput(p, cfg, opts.inputEmbeds ? null : tokens, L, { inputEmbeds: opts.inputEmbeds }); // [B, L, D]
  const bias = valid.sub(1).mul(1e9).reshape([B, 1, 1, L]); // [B, 1, 1, L]
  const attnOpts = { nHeads: cfg.nHeads, rope: cfg.pos === "rope", linearFn, ...(opts.posOffset ? { posOffset: opts.posOffset } : {}) };
  const cache: KVCache = [];
  const hd = cfg.dModel / cfg.nHeads;
  const grow = (a: Array) => (L === maxLen ? a : np.concatenate([a, np.zeros([B, maxLen - L, cfg.nHeads, hd])], 1)); // [B, maxLen, H, hd]
  for (const b of p.blocks) {
    const r = attentionWithKV(b.attn, norm(b.ln1, x.ref), { ...attnOpts, bias: bias.ref, headsLast: opts.headsLast ?? true });
    cache.push({ k: grow(r.k), v: grow(r.v) });
    x = x.add(r.y);
    x = x.ref.add(mlp(b.mlp, norm(b.ln2, x), linearFn));
  }
  bias.dispose();
  const last = x.slice([], [L - 1, L]).reshape([B, cfg.dModel]); // [B, D]
  const h = norm(p.lnF, last); // [B, D]
  const logits = headLogits(p, h.ref); // [B, V]
  return { logits, hidden: h, cache };
}

/** Number of parameters (all leaves). */
export function paramCount(tree: unknown): number {
  let n = 0;
  const visit = (t: unknown): void => {
    if (t && typeof t === "object" && "shape" in (t as object) && Array.isArray((t as { shape: unknown }).shape)) {
      n += (t as { shape: number[] }).shape.reduce((a, b) => a * b, 1);
    } else if (Array.isArray(t)) t.forEach(visit);
    else if (t && typeof t === "object") Object.values(t).forEach(visit);
  };
  visit(tree);
  return n;
}

/** Non-embedding parameter count N of the Kaplan et al. (2020) scaling formulas. */
export function nonEmbeddingParams(cfg: LMConfig): number {
  const D = cfg.dModel;
  const H = mlpHidden(cfg);
  const perBlock = 4 * D * D + (cfg.mlp === "swiglu" ? 3 : 2) * D * H;
  return cfg.nLayers * perBlock;
}

/**
 * Training FLOPs per token, forward + backward: 6·N (matmuls with weights, including the output
 * head) + 6·L·T·D (attention scores and values: 2·2·T·D forward per layer, x3 with backward),
 * as in PaLM's appendix (Chowdhery et al. 2022) with T the context length.
 */
export function flopsPerToken(cfg: LMConfig, T = cfg.contextLength): number {
  const N = nonEmbeddingParams(cfg) + cfg.dModel * cfg.vocabSize;
  return 6 * N + 6 * cfg.nLayers * T * cfg.dModel;
}
