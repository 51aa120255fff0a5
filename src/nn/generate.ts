/**
 * Autoregressive sampling from the transformer LM with a KV cache: batched, left-padded prompts,
 * temperature, top-k and top-p (nucleus, Holtzman et al. 2020) sampling, stop tokens and a
 * per-sequence stop test (for stop strings). The decode step is jitted once (static shapes:
 * the cache has `contextLength` slots); token choice happens on the host from the step's logits.
 * Returns the log-probability of each sampled token under the sampling distribution's temperature
 * (before top-k/top-p truncation), which policy-gradient methods need.
 *
 * Speed (issue 25; bench shape: reference model, 32 prompts of 64 tokens, 64 new; scripts/pilots/
 * speed-generate-ab.mts, 1 thread, CPU time, interleaved rounds on a shared 2-core machine; every step below keeps
 * tokens and log-probabilities bit-identical): with a batched prefill and large caches the main cache holds only
 * filled slots and grows by concatenation (`kvGrow`, 1.07x), the prefill's attention writes heads-last
 * (`prefillHeadsLast`: the output projection read jax-js's transposed view at 4.5 GFLOP/s against 36 for the
 * other projections), and decoding uses `lmDecodeStepKV` (`decodeKV`: 81 -> 50 kernels per token). All together
 * 1.16-1.23x CPU against the earlier sampler (sft-vs-rl's rollout call 1.19x). Tried and not kept: 8 or 32 recent
 * slots instead of 16 (0.97x, 0.93x); the recent buffer written by `where` (slower); the main cache head-major
 * with values transposed (1.15x on the attention alone, ~2 % of a call, and sums reordered).
 * Not done: sampling on the device (host token choice is ~3 % of a call and would cost kernels of its own).
 * Later (issue 25; 1 thread, CPU ms per call, old and new code in alternating processes, shared machine at load
 * 9-10): the fewer-kernel decoder uploads its slot masks once per call and main's score biases once per main size,
 * and `chooseToken` computes log-probs only up to the drawn token; with patch-jax edit 13 (no re-hash of a jit
 * program's kernels) paired ratios 0.91-1.39, median 1.04 over 10 pairs: within that load's noise (host code and
 * jax-js's JS are ~20 % of a 1-thread call, wasm kernels the rest). Tokens and log-probabilities bit-identical.
 * Tried and not kept: the scaled query recomputed by each score kernel instead of shared (still 50.2 kernels per
 * token, and log-probabilities changed in their last bits).
 * Issue 24 (sft-vs-rl's evaluations at 500 episodes per point): `prefillTight` (prompts grouped by length, each chunk
 * prefilled over its own length at the batch layout's positions, repeated prompts once) and `compactDone` (the decode
 * goes on with fewer rows as rows finish); both opt-in; the first bit-identical (generate.test.ts), the second up to
 * the last bit of a logit now and then;
 * an sft-vs-rl evaluation 0.45-0.70x CPU, a PPO rollout 0.65x (numbers in its README).
 */
import { jit, np, tree, type Array } from "../engine/index.js";
import { Rng } from "../util/rng.js";
import { initKVCache, lmDecodeStep, lmDecodeStepSplit, lmForward, lmPrefill, mergeRecentCache, type KVCache, type LMConfig, type LMParams } from "./transformer.js";
import type { LinearFn } from "./linear.js";
import { hostDecodeInput, lmDecodeStepKV, type DecodeMasks } from "./kv.js";

export type SampleOptions = {
  maxNewTokens: number;
  /** 0 means greedy (argmax). */
  temperature?: number;
  /** Keep the k most likely tokens (0: all). */
  topK?: number;
  /** Keep the smallest set whose probability reaches p (1: all). */
  topP?: number;
  /** Host RNG for token choice. */
  rng?: Rng;
  /** A sequence stops after emitting one of these ids (the id is kept). */
  stopIds?: number[];
  /** A sequence stops when this returns true for its generated ids so far. */
  stopWhen?: (generated: number[], row: number) => boolean;
  linearFn?: LinearFn;
  /**
   * Fill the KV cache with one batched forward pass over the prompts (`lmPrefill`) instead of one
   * decode step per prompt token. Same distribution up to float rounding; much faster for long prompts.
   */
  batchedPrefill?: boolean;
  /** With `batchedPrefill`: round the padded prompt length up to a multiple of this (fewer recompiles). Default 1. */
  prefillBucket?: number;
  /** With `batchedPrefill`: also return each prompt's final hidden state at its last token (for a value head). */
  returnPromptHidden?: boolean;
  /**
   * With `batchedPrefill`: prefill at most this many rows per forward pass (the last chunk is padded by repeating
   * its last row), bounding the prefill's activation memory for large batches. Default: all rows at once.
   */
  prefillChunk?: number;
  /**
   * With `batchedPrefill` and RoPE positions: prefill the rows grouped by prompt length (longest first) and each chunk
   * of `prefillChunk` rows only over its own longest prompt rounded up to a multiple of this, at the same absolute
   * positions as in the whole batch's left-padded layout (RoPE's `posOffset`); the chunk's cache is then left-padded
   * with zero keys and values, which the padding mask closes as it closed the padding tokens' before. Logits, hidden
   * states and cache rows go back to the prompts' order, so the decode and the sampler see what they saw without it.
   * A prompt given more than once (equal token lists, e.g. padding rows) is prefilled once and its results copied.
   * 0 (default): every chunk over the whole batch's padded length. Not with `prefillEmbeds`.
   */
  prefillTight?: number;
  /**
   * With `batchedPrefill` and the fewer-kernel decoder (`decodeKV`): once at most 1/this of the decoded rows are still
   * sampling, decode on with ceil(rows / this) rows (the live ones in order, then ignored fillers), again and again.
   * The sampler draws for live rows in row order as before and each row's numbers are its own, up to rounding: a
   * decode step over fewer rows can round a logit differently in the last bit (sft-vs-rl's quick PPO rollout: 4 of 256
   * calls' log-probs within 2.5e-7, the same tokens), so the tokens are the same unless a draw falls that close to a
   * boundary. 0 or 1 (default): every row until all are done.
   */
  compactDone?: number;
  /**
   * With `batchedPrefill`: input embeddings of the prompts instead of the token embedding (e.g. image tokens at
   * placeholder positions). Called once per prefill chunk with the chunk's left-padded ids (int32, row-major
   * [rows.length, L]), the original row index of each chunk row and L; returns [rows.length, L, D], consumed.
   * Generated tokens are embedded as usual.
   */
  prefillEmbeds?: (tokens: Int32Array, rows: number[], L: number) => Array;
  /**
   * Slots of the small "recent" KV buffer each decode step rewrites; every this many tokens it is
   * merged into the main cache (see `attentionDecodeSplit`). 0: the single cache rewritten whole
   * each step (the earlier sampler). Default: `defaultKvRecent` (the split for large caches only).
   */
  kvRecent?: number;
  /** KV-cache slots (at least prompt + new tokens, at most the context length). Default: `kvCapacityFor`. */
  kvCapacity?: number;
  /**
   * With `batchedPrefill` and the two-level cache: the main cache holds exactly the filled slots (the
   * prompt after prefill) and grows by concatenating the recent slots at each merge, so a decode step
   * reads only filled slots and a merge copies main once instead of rewriting a full-capacity cache.
   * The decode step compiles once per main size (prompt + a multiple of `kvRecent`). Same values (the
   * slots it drops only ever added exact zeros). Default true; false: the fixed-capacity main cache.
   */
  kvGrow?: boolean;
  /** With `batchedPrefill`: the prefill's attention by `attendHeadsLast` (default true; same values) or false: jnn's. */
  prefillHeadsLast?: boolean;
  /**
   * With the growing cache and the dense matmul: decode with `lmDecodeStepKV` (fewer kernels per token, same
   * values) instead of `lmDecodeStepSplit`. Default true.
   */
  decodeKV?: boolean;
};

/** Recent slots of the two-level cache when it is used by default. */
export const DEFAULT_KV_RECENT = 16;
/** Cache elements per layer (batch x slots x width) from which the two-level cache is the default. */
export const KV_SPLIT_MIN_ELEMENTS = 1 << 18;

/**
 * The default `kvRecent` for a batch of B: the two-level cache costs ~20 more kernels per token
 * and saves a rewrite of B x Tmax x D per layer, so it wins only for large caches. Measured with
 * scripts/pilots/speed-generate.mts (1 thread, reference model, Tmax 128, D 128; decode CPU time,
 * split over single cache): B 1 0.95x, B 4 0.82x, B 16 1.21x, B 32 1.37x.
 */
export function defaultKvRecent(cfg: LMConfig, B: number, capacity = cfg.contextLength): number {
  return B * capacity * cfg.dModel >= KV_SPLIT_MIN_ELEMENTS ? DEFAULT_KV_RECENT : 0;
}

/** Cache slots are rounded up to a multiple of this (so few distinct shapes compile). */
export const KV_CAPACITY_STEP = 32;

/**
 * KV-cache slots for `needed` positions: `kvCapacity` when given, else `needed` rounded up to a
 * multiple of KV_CAPACITY_STEP, at most the context length. Slots past the last position only
 * cost (every decode step reads, and the single cache rewrites, all of them).
 */
export function kvCapacityFor(cfg: LMConfig, needed: number, opts: { kvCapacity?: number } = {}): number {
  const c = opts.kvCapacity ?? Math.ceil(needed / KV_CAPACITY_STEP) * KV_CAPACITY_STEP;
  return Math.min(cfg.contextLength, Math.max(needed, Math.floor(c)));
}

export type SampleResult = {
  tokens: number[][];
  logprobs: number[][];
  /** [B][D] final hidden state (after the last norm) at each prompt's last token, when `returnPromptHidden`. */
  promptHidden?: number[][];
};

/** Choose one token id from logits (Float32Array slice) on the host. */
export function chooseToken(logits: Float32Array, opts: { temperature: number; topK: number; topP: number; rng: Rng }): { id: number; logprob: number } {
  const V = logits.length;
  const { temperature, topK, topP, rng } = opts;
  let maxL = -Infinity;
  let arg = 0;
  for (let i = 0; i < V; i++) {
    if (logits[i] > maxL) {
      maxL = logits[i];
      arg = i;
    }
  }
  const tau = temperature > 0 ? temperature : 1;
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp((logits[i] - maxL) / tau);
  const logZ = Math.log(z);
  // The log-probability of token i (float64, the same expression wherever it is needed).
  const logp = (i: number) => (logits[i] - maxL) / tau - logZ;
  if (temperature <= 0) return { id: arg, logprob: logp(arg) };
  if ((topK <= 0 || topK >= V) && topP >= 1) {
    // No truncation: inverse-CDF in index order (no sort; the same distribution as the sorted walk). Log-probs are
    // computed only up to the token drawn (this path runs once per row and token: ~20 % less host time per choice).
    let u = rng.next();
    for (let i = 0; i < V; i++) {
      const l = logp(i);
      u -= Math.exp(l);
      if (u <= 0) return { id: i, logprob: l };
    }
    return { id: arg, logprob: logp(arg) };
  }
  const lp = Float64Array.from({ length: V }, (_, i) => logp(i));
  let order = Array.from({ length: V }, (_, i) => i).sort((a, b) => lp[b] - lp[a]);
  if (topK > 0 && topK < V) order = order.slice(0, topK);
  if (topP < 1) {
    let acc = 0;
    let cut = order.length;
    for (let j = 0; j < order.length; j++) {
      acc += Math.exp(lp[order[j]]);
      if (acc >= topP) {
        cut = j + 1;
        break;
      }
    }
    order = order.slice(0, cut);
  }
  let mass = 0;
  for (const i of order) mass += Math.exp(lp[i]);
  let u = rng.next() * mass;
  for (const i of order) {
    u -= Math.exp(lp[i]);
    if (u <= 0) return { id: i, logprob: lp[i] };
  }
  const last = order[order.length - 1];
  return { id: last, logprob: lp[last] };
}

type DecodeFn = (p: LMParams, tokens: Array, pos: Array, valid: Array, cache: KVCache) => { logits: Array; cache: KVCache };
const decoders = new WeakMap<LMConfig, Map<LinearFn | undefined, DecodeFn>>();
type PrefillFn = (p: LMParams, tokens: Array, valid: Array) => { logits: Array; hidden: Array; cache: KVCache };
type EmbedsPrefillFn = (p: LMParams, tokens: Array, valid: Array, embeds: Array) => { logits: Array; hidden: Array; cache: KVCache };
/** Jitted prefills per (config, linear function, cache capacity and attention): trace-time constants. */
type PrefillStore<F> = WeakMap<LMConfig, Map<LinearFn | undefined, Map<string, F>>>;
const prefillers: PrefillStore<PrefillFn> = new WeakMap();
const embedsPrefillers: PrefillStore<EmbedsPrefillFn> = new WeakMap();

function cachedPrefill<F>(store: PrefillStore<F>, cfg: LMConfig, linearFn: LinearFn | undefined, capacity: number | string, headsLast: boolean, make: () => F): F {
  let m = store.get(cfg);
  if (!m) store.set(cfg, (m = new Map()));
  let byCap = m.get(linearFn);
  if (!byCap) m.set(linearFn, (byCap = new Map()));
  const key = `${capacity}/${headsLast}`;
  let f = byCap.get(key);
  if (!f) byCap.set(key, (f = make()));
  return f;
}

function embedsPrefillerFor(cfg: LMConfig, capacity: number, linearFn?: LinearFn, headsLast = true): EmbedsPrefillFn {
  return cachedPrefill(embedsPrefillers, cfg, linearFn, capacity, headsLast, () =>
    jit((p: LMParams, tokens: Array, valid: Array, embeds: Array) => lmPrefill(p, cfg, tokens, valid, capacity, { linearFn, inputEmbeds: embeds, headsLast })),
  );
}

function prefillerFor(cfg: LMConfig, capacity: number, linearFn?: LinearFn, headsLast = true, posOffset = 0): PrefillFn {
  return cachedPrefill(prefillers, cfg, linearFn, posOffset ? `${capacity}@${posOffset}` : capacity, headsLast, () =>
    jit((p: LMParams, tokens: Array, valid: Array) => lmPrefill(p, cfg, tokens, valid, capacity, { linearFn, headsLast, ...(posOffset ? { posOffset } : {}) })),
  );
}

function decoderFor(cfg: LMConfig, linearFn?: LinearFn): DecodeFn {
  let m = decoders.get(cfg);
  if (!m) decoders.set(cfg, (m = new Map()));
  let f = m.get(linearFn);
  if (!f) {
    f = jit((p: LMParams, tokens: Array, pos: Array, valid: Array, cache: KVCache) =>
      lmDecodeStep(p, cfg, tokens, pos, valid, cache, { linearFn }),
    );
    m.set(linearFn, f);
  }
  return f;
}

type SplitDecodeFn = (p: LMParams, tokens: Array, pos: Array, slot: Array, bias: Array, main: KVCache, recent: KVCache) => { logits: Array; recent: KVCache };
const splitDecoders = new WeakMap<LMConfig, Map<LinearFn | undefined, SplitDecodeFn>>();
const mergeCache = jit((main: KVCache, recent: KVCache, base: Array) => mergeRecentCache(main, recent, base));
/** main [B, M, H, hd] ++ recent [B, K, H, hd] along the slots, per layer (the growing cache's merge). */
const appendCache = jit((main: KVCache, recent: KVCache) => main.map((m, l) => ({ k: np.concatenate([m.k, recent[l].k], 1), v: np.concatenate([m.v, recent[l].v], 1) })));
/** The same with each layer's recent keys and values in one array [B, K, 2D] (`lmDecodeStepKV`'s). */
const appendJointCache = jit((main: KVCache, recent: Array[]) =>
  main.map((m, l) => {
    const [B, , H, hd] = m.k.shape;
    const K = recent[l].shape[1];
    const part = (i: number) => recent[l].ref.slice([], [], [i * H * hd, (i + 1) * H * hd]).reshape([B, K, H, hd]);
    const out = { k: np.concatenate([m.k, part(0)], 1), v: np.concatenate([m.v, part(1)], 1) };
    recent[l].dispose();
    return out;
  }),
);

function splitDecoderFor(cfg: LMConfig, linearFn?: LinearFn): SplitDecodeFn {
  let m = splitDecoders.get(cfg);
  if (!m) splitDecoders.set(cfg, (m = new Map()));
  let f = m.get(linearFn);
  if (!f) {
    f = jit((p: LMParams, tokens: Array, pos: Array, slot: Array, bias: Array, main: KVCache, recent: KVCache) =>
      lmDecodeStepSplit(p, cfg, tokens, pos, slot, bias, main, recent, { linearFn }),
    );
    m.set(linearFn, f);
  }
  return f;
}

/**
 * The decoder's state and one step: either the single cache rewritten each step (`K` = 0) or the
 * two-level cache (main + K recent slots, merged every K tokens). `valid` [B, Tmax] (Tmax: the
 * cache's slots) is the
 * caller's host mask of real (non-padding) positions, read at each step.
 */
function makeDecoder(params: LMParams, cfg: LMConfig, B: number, main0: KVCache, base0: number, valid: Float32Array, kvRecent: number, linearFn?: LinearFn, grow = false, tables?: HostTables) {
  const Tmax = main0[0].k.shape[1];
  const K = Math.max(0, Math.floor(kvRecent));
  if (K > 0 && grow) return makeGrowingDecoder(params, cfg, B, main0, valid, K, linearFn, tables);
  if (K <= 0) {
    const decode = decoderFor(cfg, linearFn);
    let cache = main0;
    return {
      step(cur: Int32Array, t: number): Array {
        const r = decode(tree.ref(params), np.array(cur, { dtype: np.int32 }), np.array(t, { dtype: np.int32 }), np.array(valid).reshape([B, Tmax]), cache);
        cache = r.cache;
        return r.logits;
      },
      dispose: () => tree.dispose(cache),
    };
  }
  const decode = splitDecoderFor(cfg, linearFn);
  let main = main0;
  let base = base0;
  let recent: KVCache = initKVCache({ ...cfg, contextLength: K }, B, K);
  const bias = new Float32Array(B * (Tmax + K));
  return {
    step(cur: Int32Array, t: number): Array {
      const slot = t - base;
      for (let b = 0; b < B; b++) {
        const row = b * (Tmax + K);
        for (let s = 0; s < Tmax; s++) bias[row + s] = s < base && valid[b * Tmax + s] > 0 ? 0 : -1e9;
        for (let j = 0; j < K; j++) bias[row + Tmax + j] = j <= slot && valid[b * Tmax + base + j] > 0 ? 0 : -1e9;
      }
      const r = decode(
        tree.ref(params),
        np.array(cur, { dtype: np.int32 }),
        np.array(t, { dtype: np.int32 }),
        np.array(slot, { dtype: np.int32 }),
        np.array(bias).reshape([B, Tmax + K]),
        tree.ref(main),
        recent,
      );
      recent = r.recent;
      if (slot === K - 1) {
        main = mergeCache(main, tree.ref(recent), np.array(base, { dtype: np.int32 }));
        base += K;
      }
      return r.logits;
    },
    dispose: () => {
      tree.dispose(main);
      tree.dispose(recent);
    },
  };
}

/**
 * The two-level decoder over a growing main cache: `main0` holds exactly the first M slots (the
 * prefilled prompt), `valid` [B, C] (C >= every position decoded) is read as in `makeDecoder`. The
 * recent slots are appended to main (`appendCache`) just before the step that would overflow them,
 * so the last tokens never pay for a merge.
 */
function makeGrowingDecoder(params: LMParams, cfg: LMConfig, B: number, main0: KVCache, valid: Float32Array, K: number, linearFn?: LinearFn, tables?: HostTables) {
  if (tables && linearFn === undefined) return makeKVDecoder(params, cfg, B, main0, valid, K, tables);
  const C = valid.length / B;
  const decode = splitDecoderFor(cfg, linearFn);
  let main = main0;
  let base = main0[0].k.shape[1];
  let recent: KVCache = initKVCache({ ...cfg, contextLength: K }, B, K);
  return {
    step(cur: Int32Array, t: number): Array {
      if (t - base >= K) {
        // Recent keeps its old values: slots not yet rewritten are masked out, as in makeDecoder.
        main = appendCache(main, tree.ref(recent));
        base += K;
      }
      const slot = t - base;
      const W = base + K;
      const { biasMain, biasRecent } = growingBiases(valid, B, C, base, K, slot);
      const bias = new Float32Array(B * W);
      for (let b = 0; b < B; b++) {
        bias.set(biasMain.subarray(b * base, (b + 1) * base), b * W);
        bias.set(biasRecent.subarray(b * K, (b + 1) * K), b * W + base);
      }
      const r = decode(
        tree.ref(params),
        np.array(cur, { dtype: np.int32 }),
        np.array(t, { dtype: np.int32 }),
        np.array(slot, { dtype: np.int32 }),
        np.array(bias).reshape([B, W]),
        tree.ref(main),
        recent,
      );
      recent = r.recent;
      return r.logits;
    },
    dispose: () => {
      tree.dispose(main);
      tree.dispose(recent);
    },
  };
}

/**
 * Score biases of one step over the growing cache: main's `base` slots [B, base] open where `valid` [B, C] marks a
 * real position; recent's K slots [B, K] open up to this step's `slot` and where valid (0 open, -1e9 closed).
 * `withMain` false: main's are not built (empty; the caller keeps them from an earlier step with the same base).
 */
function growingBiases(valid: Float32Array, B: number, C: number, base: number, K: number, slot: number, withMain = true) {
  const biasMain = new Float32Array(withMain ? B * base : 0);
  const biasRecent = new Float32Array(B * K);
  for (let b = 0; b < B; b++) {
    if (withMain) for (let s = 0; s < base; s++) biasMain[b * base + s] = valid[b * C + s] > 0 ? 0 : -1e9;
    for (let j = 0; j < K; j++) biasRecent[b * K + j] = j <= slot && base + j < C && valid[b * C + base + j] > 0 ? 0 : -1e9;
  }
  return { biasMain, biasRecent };
}

type KVDecodeFn = (p: LMParams, x: Array, pos: Array, masks: DecodeMasks, main: KVCache, recent: Array[]) => { logits: Array; recent: Array[] };
/** Host copies of the embedding tables (for `hostDecodeInput`). */
export type HostTables = { wte: Float32Array; wpe: Float32Array | null };
const kvDecoders = new WeakMap<LMConfig, KVDecodeFn>();

function kvDecoderFor(cfg: LMConfig): KVDecodeFn {
  let f = kvDecoders.get(cfg);
  if (!f) {
    f = jit((p: LMParams, x: Array, pos: Array, masks: DecodeMasks, main: KVCache, recent: Array[]) => lmDecodeStepKV(p, cfg, x, pos, masks, main, recent));
    kvDecoders.set(cfg, f);
  }
  return f;
}

/**
 * `makeGrowingDecoder` with `lmDecodeStepKV`: each step's input embeddings, one-hot slot mask and score biases
 * (main's and recent's slots apart) are made on the host.
 */
function makeKVDecoder(params: LMParams, cfg: LMConfig, B0: number, main0: KVCache, valid0: Float32Array, K: number, tables: HostTables) {
  let B = B0;
  let valid = valid0;
  const C = valid.length / B;
  const decode = kvDecoderFor(cfg);
  let main = main0;
  let base = main0[0].k.shape[1];
  const H = cfg.nHeads;
  const hd = cfg.dModel / H;
  let recent: Array[] = Array.from({ length: cfg.nLayers }, () => np.zeros([B, K, 2 * H * hd]));
  // Uploaded once per call and passed by reference: the write masks of each recent slot, and main's score biases,
  // which change only when main grows (its slots are positions before `base`, whose validity is final).
  const slotMasks: { onehot: Array; keep: Array }[] = [];
  let mainBias: { base: number; bias: Array } | null = null;
  return {
    step(cur: Int32Array, t: number): Array {
      if (t - base >= K) {
        main = appendJointCache(main, tree.ref(recent));
        base += K;
      }
      const slot = t - base;
      if (!slotMasks[slot]) {
        const onehot = new Float32Array(K);
        const keep = new Float32Array(K).fill(1);
        onehot[slot] = 1;
        keep[slot] = 0;
        slotMasks[slot] = { onehot: np.array(onehot).reshape([1, K, 1]), keep: np.array(keep).reshape([1, K, 1]) };
      }
      const { biasMain, biasRecent } = growingBiases(valid, B, C, base, K, slot, mainBias?.base !== base);
      if (mainBias?.base !== base) {
        mainBias?.bias.dispose();
        mainBias = { base, bias: np.array(biasMain).reshape([B, base, 1]) };
      }
      const masks: DecodeMasks = {
        onehot: slotMasks[slot].onehot.ref,
        keep: slotMasks[slot].keep.ref,
        biasMain: mainBias.bias.ref,
        biasRecent: np.array(biasRecent).reshape([B, K, 1]),
      };
      const x = np.array(hostDecodeInput(tables.wte, tables.wpe, cfg.dModel, cur, t)).reshape([B, 1, cfg.dModel]);
      const r = decode(tree.ref(params), x, np.array(t, { dtype: np.int32 }), masks, tree.ref(main), recent);
      recent = r.recent;
      return r.logits;
    },
    /**
     * Keep only the rows `keep` (indices into the current batch, in the new order): the caches' rows and the host
     * validity mask (returned: the caller marks new positions valid in it from now on). Every row's numbers are its
     * own, so the kept rows decode on as before.
     */
    compact(keep: number[]): Float32Array {
      const idx = np.array(Int32Array.from(keep), { dtype: np.int32 });
      main = main.map((l) => ({ k: np.take(l.k, idx.ref, 0), v: np.take(l.v, idx.ref, 0) }));
      recent = recent.map((r) => np.take(r, idx.ref, 0));
      idx.dispose();
      mainBias?.bias.dispose();
      mainBias = null;
      const v = new Float32Array(keep.length * C);
      keep.forEach((r, i) => v.set(valid.subarray(r * C, (r + 1) * C), i * C));
      valid = v;
      B = keep.length;
      return valid;
    },
    dispose: () => {
      tree.dispose(main);
      tree.dispose(recent);
      for (const m of slotMasks) if (m) tree.dispose([m.onehot, m.keep]);
      mainBias?.bias.dispose();
    },
  };
}

/**
 * The sampling side of decoding, shared by both paths: holds each row's tokens, log-probs and
 * done flag, and `pick(logits)` draws the next token of every live row (in row order, so a given
 * seed draws the same tokens either way).
 */
function makeSampler(B: number, V: number, opts: SampleOptions) {
  const rng = opts.rng ?? new Rng(0, "sample");
  const how = { temperature: opts.temperature ?? 1, topK: opts.topK ?? 0, topP: opts.topP ?? 1, rng };
  const stop = new Set(opts.stopIds ?? []);
  const tokens: number[][] = Array.from({ length: B }, () => []);
  const logprobs: number[][] = Array.from({ length: B }, () => []);
  const done = new Array<boolean>(B).fill(false);
  // `rows`: the batch row of each logits row (−1: a row to ignore); default every row in order.
  const pick = (logits: Float32Array, rows?: readonly number[]): Int32Array<ArrayBuffer> => {
    const n = rows ? rows.length : B;
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const b = rows ? rows[i] : i;
      if (b < 0 || done[b]) continue;
      const c = chooseToken(logits.subarray(i * V, (i + 1) * V), how);
      next[i] = c.id;
      tokens[b].push(c.id);
      logprobs[b].push(c.logprob);
      if (stop.has(c.id) || opts.stopWhen?.(tokens[b], b) || tokens[b].length >= opts.maxNewTokens) done[b] = true;
    }
    return next;
  };
  return { tokens, logprobs, pick, done, allDone: () => done.every(Boolean) };
}

/**
 * Sample continuations of `prompts` (token id lists; left-padded internally). `params` are not
 * consumed. Sequences longer than the context are rejected.
 */
export async function generate(params: LMParams, cfg: LMConfig, prompts: number[][], opts: SampleOptions): Promise<SampleResult> {
  const B = prompts.length;
  const Tmax = cfg.contextLength;
  const L = Math.max(...prompts.map((p) => p.length));
  if (prompts.some((p) => p.length === 0)) throw new Error("generate: every prompt needs at least one token");
  if (L + opts.maxNewTokens > Tmax) {
    throw new Error(`generate: prompt (${L}) + maxNewTokens (${opts.maxNewTokens}) exceeds model.contextLength ${Tmax}`);
  }
  // Left padding shifts absolute positions, so batches of unequal prompts are exact only for
  // RoPE (relative) models; learned-position models see padded rows at shifted positions.
  if (opts.batchedPrefill) return generatePrefilled(params, cfg, prompts, opts);
  if (opts.prefillEmbeds) throw new Error("generate: prefillEmbeds needs batchedPrefill: true");
  const sampler = makeSampler(B, cfg.vocabSize, opts);
  const C = kvCapacityFor(cfg, L + opts.maxNewTokens, opts);
  const valid = new Float32Array(B * C);
  const dec = makeDecoder(params, cfg, B, initKVCache(cfg, B, C), 0, valid, opts.kvRecent ?? defaultKvRecent(cfg, B, C), opts.linearFn);
  let cur = new Int32Array(B);
  for (let t = 0; t < L + opts.maxNewTokens - 1; t++) {
    for (let b = 0; b < B; b++) {
      const pad = L - prompts[b].length;
      if (t < L) {
        cur[b] = t < pad ? 0 : prompts[b][t - pad];
        valid[b * C + t] = t < pad ? 0 : 1;
      } else {
        valid[b * C + t] = 1;
      }
    }
    const logits = dec.step(cur, t);
    if (t >= L - 1) {
      cur = sampler.pick((await logits.data()) as Float32Array);
      if (sampler.allDone()) break;
    } else {
      logits.dispose();
    }
  }
  dec.dispose();
  return { tokens: sampler.tokens, logprobs: sampler.logprobs };
}

/** `generate` with a batched prefill (see `SampleOptions.batchedPrefill`). */
async function generatePrefilled(params: LMParams, cfg: LMConfig, prompts: number[][], opts: SampleOptions): Promise<SampleResult> {
  const B = prompts.length;
  const Tmax = cfg.contextLength;
  const L0 = Math.max(...prompts.map((p) => p.length));
  const bucket = Math.max(1, Math.floor(opts.prefillBucket ?? 1));
  const L = Math.min(Math.ceil(L0 / bucket) * bucket, Tmax - opts.maxNewTokens);
  const C = kvCapacityFor(cfg, L + opts.maxNewTokens, opts);
  const K = opts.kvRecent ?? defaultKvRecent(cfg, B, C);
  const grow = K > 0 && (opts.kvGrow ?? true);
  // The growing cache starts with the prompt's L slots; the fixed one with all C.
  const prefillSlots = grow ? L : C;
  const V = cfg.vocabSize;
  const toks = new Int32Array(B * L);
  const valid = new Float32Array(B * C);
  for (let b = 0; b < B; b++) {
    const pad = L - prompts[b].length;
    for (let t = 0; t < L; t++) {
      toks[b * L + t] = t < pad ? 0 : prompts[b][t - pad];
      valid[b * C + t] = t < pad ? 0 : 1;
    }
  }
  const validPrompt = new Float32Array(B * L);
  for (let b = 0; b < B; b++) validPrompt.set(valid.subarray(b * C, b * C + L), b * L);
  const chunk = Math.min(B, Math.max(1, Math.floor(opts.prefillChunk ?? B)));
  const tight = Math.max(0, Math.floor(opts.prefillTight ?? 0));
  if (tight > 0 && !opts.prefillEmbeds) {
    if (cfg.pos !== "rope") throw new Error("generate: prefillTight needs RoPE positions (pos: \"rope\")");
    return decodePrefilled(params, cfg, opts, B, L, C, K, grow, valid, await prefillTight(params, cfg, prompts, toks, validPrompt, L, prefillSlots, chunk, tight, opts));
  }
  const D = cfg.dModel;
  const logits: Float32Array<ArrayBufferLike> = new Float32Array(B * V);
  const hiddenHost = new Float32Array(B * D);
  const caches: KVCache[] = [];
  for (let r0 = 0; r0 < B; r0 += chunk) {
    const rows = Array.from({ length: chunk }, (_, i) => Math.min(r0 + i, B - 1)); // pad the last chunk
    const t = new Int32Array(chunk * L);
    const v = new Float32Array(chunk * L);
    rows.forEach((r, i) => {
      t.set(toks.subarray(r * L, (r + 1) * L), i * L);
      v.set(validPrompt.subarray(r * L, (r + 1) * L), i * L);
    });
    const out = opts.prefillEmbeds
      ? embedsPrefillerFor(cfg, prefillSlots, opts.linearFn, opts.prefillHeadsLast ?? true)(
          tree.ref(params),
          np.array(t, { dtype: np.int32 }).reshape([chunk, L]),
          np.array(v).reshape([chunk, L]),
          opts.prefillEmbeds(t, rows, L),
        )
      : prefillerFor(cfg, prefillSlots, opts.linearFn, opts.prefillHeadsLast ?? true)(
          tree.ref(params),
          np.array(t, { dtype: np.int32 }).reshape([chunk, L]),
          np.array(v).reshape([chunk, L]),
        );
    const keep = Math.min(chunk, B - r0);
    // Reading the chunk's outputs waits for it, so chunks run one after another (bounded memory).
    logits.set(((await out.logits.data()) as Float32Array).subarray(0, keep * V), r0 * V);
    if (opts.returnPromptHidden) hiddenHost.set(((await out.hidden.data()) as Float32Array).subarray(0, keep * D), r0 * D);
    else out.hidden.dispose();
    caches.push(keep < chunk ? out.cache.map((c) => ({ k: c.k.slice([0, keep]), v: c.v.slice([0, keep]) })) : out.cache);
  }
  const cache: KVCache = caches.length === 1 ? caches[0] : caches[0].map((_, l) => ({ k: np.concatenate(caches.map((c) => c[l].k), 0), v: np.concatenate(caches.map((c) => c[l].v), 0) }));
  return decodePrefilled(params, cfg, opts, B, L, C, K, grow, valid, { logits, hiddenHost, cache });
}

/**
 * The prefill of `prefillTight`: rows by prompt length (longest first, stable), chunks of `chunk` rows each over the
 * last `Lc` columns of the left-padded layout (its longest prompt rounded up to `tight`, at most L) at position offset
 * L − Lc; each chunk's cache left-padded with zeros to the layout's slots; outputs back in the prompts' order (a
 * repeated prompt's rows copied from its first row's).
 */
async function prefillTight(params: LMParams, cfg: LMConfig, prompts: number[][], toks: Int32Array, validPrompt: Float32Array, L: number, prefillSlots: number, chunk: number, tight: number, opts: SampleOptions): Promise<{ logits: Float32Array; hiddenHost: Float32Array; cache: KVCache }> {
  const B = prompts.length;
  const V = cfg.vocabSize;
  const D = cfg.dModel;
  const H = cfg.nHeads;
  const hd = D / H;
  // A prompt that appears more than once (e.g. a caller's padding rows, copies of its first prompt) is prefilled once.
  const firstOf = new Map<string, number>();
  const first = prompts.map((p, b) => {
    const key = p.join(",");
    if (!firstOf.has(key)) firstOf.set(key, b);
    return firstOf.get(key)!;
  });
  const order = first.filter((f, b) => f === b).sort((a, b) => prompts[b].length - prompts[a].length || a - b);
  const U = order.length;
  const logits = new Float32Array(B * V);
  const hiddenHost = new Float32Array(B * D);
  const caches: KVCache[] = [];
  for (let r0 = 0; r0 < U; r0 += chunk) {
    const rows = Array.from({ length: chunk }, (_, i) => order[Math.min(r0 + i, U - 1)]); // pad the last chunk
    const Lc = Math.min(L, Math.ceil(Math.max(...rows.map((r) => prompts[r].length)) / tight) * tight);
    const off = L - Lc;
    const t = new Int32Array(chunk * Lc);
    const v = new Float32Array(chunk * Lc);
    rows.forEach((r, i) => {
      t.set(toks.subarray(r * L + off, (r + 1) * L), i * Lc);
      v.set(validPrompt.subarray(r * L + off, (r + 1) * L), i * Lc);
    });
    const out = prefillerFor(cfg, prefillSlots - off, opts.linearFn, opts.prefillHeadsLast ?? true, off)(tree.ref(params), np.array(t, { dtype: np.int32 }).reshape([chunk, Lc]), np.array(v).reshape([chunk, Lc]));
    const keep = Math.min(chunk, U - r0);
    const lg = (await out.logits.data()) as Float32Array;
    for (let i = 0; i < keep; i++) logits.set(lg.subarray(i * V, (i + 1) * V), rows[i] * V);
    if (opts.returnPromptHidden) {
      const hh = (await out.hidden.data()) as Float32Array;
      for (let i = 0; i < keep; i++) hiddenHost.set(hh.subarray(i * D, (i + 1) * D), rows[i] * D);
    } else out.hidden.dispose();
    const left = (a: Array) => (off > 0 ? np.concatenate([np.zeros([keep, off, H, hd]), a], 1) : a);
    caches.push(out.cache.map((c) => ({ k: left(keep < chunk ? c.k.slice([0, keep]) : c.k), v: left(keep < chunk ? c.v.slice([0, keep]) : c.v) })));
  }
  // Cache rows are in `order`; row b of the batch is the sorted index of its prompt's first row.
  const at = new Int32Array(B);
  order.forEach((r, i) => (at[r] = i));
  const pos = Int32Array.from(first, (f) => at[f]);
  first.forEach((f, b) => {
    if (f === b) return;
    logits.copyWithin(b * V, f * V, (f + 1) * V);
    hiddenHost.copyWithin(b * D, f * D, (f + 1) * D);
  });
  const idx = np.array(pos, { dtype: np.int32 });
  const cache: KVCache = caches[0].map((_, l) => {
    const cat = (key: "k" | "v") => np.take(caches.length === 1 ? caches[0][l][key] : np.concatenate(caches.map((c) => c[l][key]), 0), idx.ref, 0);
    return { k: cat("k"), v: cat("v") };
  });
  idx.dispose();
  return { logits, hiddenHost, cache };
}

/** The decode after a batched prefill: sampling from the prompts' last logits on, over the prefilled cache. */
async function decodePrefilled(params: LMParams, cfg: LMConfig, opts: SampleOptions, B: number, L: number, C: number, K: number, grow: boolean, valid: Float32Array, pre: { logits: Float32Array<ArrayBufferLike>; hiddenHost: Float32Array; cache: KVCache }): Promise<SampleResult> {
  const V = cfg.vocabSize;
  const D = cfg.dModel;
  const { hiddenHost, cache } = pre;
  let logits = pre.logits;
  let promptHidden: number[][] | undefined;
  if (opts.returnPromptHidden) promptHidden = Array.from({ length: B }, (_, b) => Array.from(hiddenHost.subarray(b * D, (b + 1) * D)));
  // The fewer-kernel step embeds on the host: the tables are read once per call.
  const useKV = grow && opts.linearFn === undefined && (opts.decodeKV ?? true);
  const tables: HostTables | undefined = useKV
    ? { wte: (await params.wte.table.ref.data()) as Float32Array, wpe: params.wpe ? ((await params.wpe.table.ref.data()) as Float32Array) : null }
    : undefined;
  const dec = makeDecoder(params, cfg, B, cache, L, valid, K, opts.linearFn, grow, tables);
  const sampler = makeSampler(B, V, opts);
  const n = Math.max(0, Math.floor(opts.compactDone ?? 0));
  const compact = n > 1 && useKV && "compact" in dec ? (dec.compact as (keep: number[]) => Float32Array) : null;
  // The batch row of each decoded row (−1: a filler row whose numbers are ignored); null: every row in order.
  let rows: number[] | null = null;
  let v = valid;
  for (let t = L; ; t++) {
    let cur = sampler.pick(logits, rows ?? undefined);
    if (sampler.allDone()) break;
    const now: number[] = rows ?? Array.from({ length: B }, (_, b) => b);
    const live: number[] = now.flatMap((b, i) => (b >= 0 && !sampler.done[b] ? [i] : []));
    if (compact && live.length <= now.length / n) {
      // Go on with ceil(rows / n) rows: the live ones in order, then fillers (copies of the first live row, ignored).
      const size = Math.ceil(now.length / n);
      const keep: number[] = [...live, ...new Array<number>(size - live.length).fill(live[0])];
      rows = keep.map((i, k) => (k < live.length ? now[i] : -1));
      const picked = cur;
      cur = Int32Array.from(keep, (i) => picked[i]);
      v = compact(keep);
    }
    for (let b = 0; b < cur.length; b++) v[b * C + t] = 1;
    logits = (await dec.step(cur, t).data()) as Float32Array;
  }
  dec.dispose();
  const result = { tokens: sampler.tokens, logprobs: sampler.logprobs };
  return promptHidden ? { ...result, promptHidden } : result;
}

/** Greedy decoding by full recomputation each step (no cache): the reference for tests. */
export async function greedyFull(params: LMParams, cfg: LMConfig, prompt: number[], n: number): Promise<number[]> {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const x = np.array(Int32Array.from(seq), { dtype: np.int32 }).reshape([1, seq.length]);
    const { logits } = lmForward(tree.ref(params), cfg, x);
    const last = (await logits.data()) as Float32Array;
    const V = cfg.vocabSize;
    const row = last.subarray((seq.length - 1) * V, seq.length * V);
    let best = 0;
    for (let j = 1; j < V; j++) if (row[j] > row[best]) best = j;
    seq.push(best);
  }
  return seq.slice(prompt.length);
}
