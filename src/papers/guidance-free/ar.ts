/**
 * The autoregressive variant of guidance-free training ("Visual Generation Without Guidance", arXiv 2501.15420;
 * official code `LlamaGen/autoregressive/train/GFT_c2i.py`): a class-conditional decoder over image tokens
 * (here: small digits quantized to a few grey levels, raster order), with the GFT mixing done on logits:
 *   ℓ^c = β·ℓ^s(x_<i | c, β) + (1 − β)·sg[ℓ^u(x_<i | ∅, β = 1)],   L = CE(softmax(ℓ^c), x_i)     (AR GFT loss)
 * CFG on logits samples from ℓ^u + w·(ℓ^c − ℓ^u) (two passes per token); GFT samples from ℓ^s at β = 1/w (one pass).
 *
 * Layout (LlamaGen): the class embedding is the first input position ("class token"); β enters as a
 * sinusoidal embedding of β·1000 through a 2-layer MLP whose last layer is zero-initialised, added to the
 * class token. The transformer is the foundation's `lmForward` with `inputEmbeds`.
 */
import { np, jnn, jit, tree, crossEntropy, type Array } from "../../engine/index.js";
import { KeyGen } from "../../nn/init.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";
import { initEmbedding, type Embedding } from "../../nn/embedding.js";
import { initLM, lmForward, initKVCache, type KVCache, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { unembed } from "../../nn/embedding.js";
import { attentionDecode } from "../../nn/attention.js";
import { norm } from "../../nn/norm.js";
import { mlp } from "../../nn/mlp.js";
import type { Rng } from "../../util/rng.js";
import { guidanceFreeMix, sinusoidalEmbedding, nfePerStep, type Guidance } from "./model.js";

export type ARConfig = {
  /** The decoder (vocabSize = grey levels, contextLength = tokens per image). */
  lm: LMConfig;
  /** Real classes K; index K is the null class. */
  numClasses: number;
  /** Width of β's sinusoidal embedding. */
  freqDim: number;
};

export type ARParams = { lm: LMParams; classEmb: Embedding; betaMlp?: { l1: Linear; l2: Linear } };

/** `withBeta`: add the β embedder (its last layer zero-initialised, as in LlamaGen's GFT code). */
export function initAR(cfg: ARConfig, seed: number, withBeta: boolean): ARParams {
  const kg = new KeyGen(seed, "ar");
  const D = cfg.lm.dModel;
  const p: ARParams = { lm: initLM(cfg.lm, seed), classEmb: initEmbedding(kg, "classEmb", cfg.numClasses + 1, D, 0.02) };
  if (withBeta) p.betaMlp = addBetaMlp(cfg, seed);
  return p;
}

function addBetaMlp(cfg: ARConfig, seed: number): { l1: Linear; l2: Linear } {
  const kg = new KeyGen(seed, "ar-beta");
  const D = cfg.lm.dModel;
  return { l1: initLinear(kg, "l1", cfg.freqDim, D, { bias: true, std: 0.02 }), l2: { w: np.zeros([D, D]), b: np.zeros([D]) } };
}

/** Add a (zero-output) β embedder to a CFG model: the GFT fine-tuning start. Consumes `p`. */
export function addARBeta(p: ARParams, cfg: ARConfig, seed: number): ARParams {
  return p.betaMlp ? p : { ...p, betaMlp: addBetaMlp(cfg, seed) };
}

/**
 * Embedding lookup as a one-hot matmul: ids [...] -> [..., D]. The vocabularies here are tiny (grey levels,
 * classes), and jax-js 0.1.25 cannot differentiate a `take` under `jit` when its cotangent comes from a slice.
 */
function embedOneHot(p: Embedding, ids: Array): Array {
  return np.matmul(jnn.oneHot(ids, p.table.shape[0]), p.table);
}

/** The class token: class embedding (+ β embedding MLP(sinusoid(β·1000)) when the model has one). [B, D]. Consumes p.classEmb, p.betaMlp. */
function classToken(p: ARParams, cfg: ARConfig, y: Array, beta: Array | null): Array {
  let cls = embedOneHot(p.classEmb, y); // [B, D]
  if (p.betaMlp && beta) {
    const e = sinusoidalEmbedding(beta.mul(1000), cfg.freqDim); // [B, F]
    cls = cls.add(linear(p.betaMlp.l2, jnn.silu(linear(p.betaMlp.l1, e)))); // [B, D]
  } else {
    if (beta) beta.dispose();
    if (p.betaMlp) tree.dispose(p.betaMlp);
  }
  return cls;
}

/**
 * Logits for every position: inTokens int32 [B, T−1] (the image tokens shifted right by the class token),
 * y int32 [B], beta [B] or null -> [B, T, V]. Consumes `p` and the arrays.
 */
export function arLogits(p: ARParams, cfg: ARConfig, inTokens: Array, y: Array, beta: Array | null): Array {
  const B = y.shape[0];
  const D = cfg.lm.dModel;
  const cls = classToken(p, cfg, y, beta); // [B, D]
  const tok = embedOneHot({ table: p.lm.wte.table.ref }, inTokens); // [B, T−1, D]
  const x = np.concatenate([cls.reshape([B, 1, D]), tok], 1); // [B, T, D]
  return lmForward(p.lm, cfg.lm, null, { inputEmbeds: x }).logits; // [B, T, V]
}

/** CFG training loss for the AR model: plain conditional cross-entropy on labels with ∅ dropped in. */
export function arCfgLoss(p: ARParams, cfg: ARConfig, inTokens: Array, targets: Array, y: Array, beta: Array): Array {
  beta.dispose();
  return crossEntropy(arLogits(p, cfg, inTokens, y, null), targets);
}

/** GFT training loss for the AR model: cross-entropy of β·ℓ^s + (1 − β)·sg[ℓ^u]. */
export function arGftLoss(p: ARParams, cfg: ARConfig, inTokens: Array, targets: Array, y: Array, beta: Array, opts: { stopGradient?: boolean } = {}): Array {
  const B = y.shape[0];
  const ls = arLogits(tree.ref(p), cfg, inTokens.ref, y, beta.ref); // [B, T, V]
  const lu = arLogits(p, cfg, inTokens, np.full([B], cfg.numClasses, { dtype: np.int32 }), np.ones([B])); // [B, T, V]
  return crossEntropy(guidanceFreeMix(ls, lu, beta, opts), targets);
}

/** Host tokens [B·T] -> (inTokens [B, T−1] = tokens without the last, targets [B, T]) as int32 arrays. */
export function arInputs(tokens: Int32Array, B: number, T: number): { inTokens: Array; targets: Array } {
  const inTok = new Int32Array(B * (T - 1));
  for (let b = 0; b < B; b++) inTok.set(tokens.subarray(b * T, b * T + T - 1), b * (T - 1));
  return { inTokens: np.array(inTok, { dtype: np.int32 }).reshape([B, T - 1]), targets: np.array(tokens, { dtype: np.int32 }).reshape([B, T]) };
}

/**
 * One KV-cached decoding step at position `pos` (int32 scalar): the input is the class token at pos 0
 * (`first` = 1) and the embedding of the previous token `prevTok` [B] after that. Mirrors `lmForward`
 * layer for layer (same params, same result as the full forward at that position, up to float rounding).
 * Returns logits [B, V] and the new cache. Consumes everything.
 */
export function arDecodeStep(
  p: ARParams,
  cfg: ARConfig,
  prevTok: Array,
  y: Array,
  beta: Array | null,
  pos: Array,
  first: Array,
  valid: Array,
  cache: KVCache,
): { logits: Array; cache: KVCache } {
  const B = y.shape[0];
  const D = cfg.lm.dModel;
  const T = cfg.lm.contextLength;
  const cls = classToken(p, cfg, y, beta); // [B, D]
  const tok = embedOneHot({ table: p.lm.wte.table.ref }, prevTok); // [B, D]
  let x = cls.mul(first.ref).add(tok.mul(first.neg().add(1))).reshape([B, 1, D]); // [B, 1, D]
  if (p.lm.wpe) {
    const oh = np.arange(T).astype(np.int32).equal(pos.ref).astype(np.float32).reshape([1, T]);
    x = x.add(np.matmul(oh, p.lm.wpe.table)); // + [1, D]
  }
  const attnOpts = { nHeads: cfg.lm.nHeads, rope: cfg.lm.pos === "rope" };
  const next: KVCache = [];
  p.lm.blocks.forEach((b, l) => {
    const r = attentionDecode(b.attn, norm(b.ln1, x.ref), cache[l], pos.ref, valid.ref, attnOpts);
    next.push(r.cache);
    x = x.add(r.y);
    x = x.ref.add(mlp(b.mlp, norm(b.ln2, x)));
  });
  pos.dispose();
  valid.dispose();
  const h = norm(p.lm.lnF, x).reshape([B, D]); // [B, D]
  const logits = p.lm.head ? linear(p.lm.head, h) : unembed(p.lm.wte, h); // [B, V]
  return { logits, cache: next };
}

/** Jitted guided next-token probabilities with KV caches (two caches for CFG). Params are not consumed. */
export function makeGuidedNextToken(cfg: ARConfig) {
  const cfgFn = jit((p: ARParams, prevTok: Array, y: Array, pos: Array, first: Array, valid: Array, cacheC: KVCache, cacheU: KVCache, w: Array) => {
    const B = y.shape[0];
    const hasBeta = Boolean(p.betaMlp);
    const c = arDecodeStep(tree.ref(p), cfg, prevTok.ref, y, hasBeta ? np.ones([B]) : null, pos.ref, first.ref, valid.ref, cacheC);
    const nullY = np.full([B], cfg.numClasses, { dtype: np.int32 });
    const u = arDecodeStep(p, cfg, prevTok, nullY, hasBeta ? np.ones([B]) : null, pos, first, valid, cacheU);
    const probs = jnn.softmax(u.logits.ref.add(c.logits.sub(u.logits).mul(w)), -1); // softmax(ℓ_u + w(ℓ_c − ℓ_u))
    return { probs, cacheC: c.cache, cacheU: u.cache };
  });
  const oneFn = jit((p: ARParams, prevTok: Array, y: Array, pos: Array, first: Array, valid: Array, cache: KVCache, beta: Array) => {
    const B = y.shape[0];
    const r = arDecodeStep(p, cfg, prevTok, y, p.betaMlp ? np.ones([B]).mul(beta) : (beta.dispose(), null), pos, first, valid, cache);
    return { probs: jnn.softmax(r.logits, -1), cache: r.cache };
  });
  return { cfgFn, oneFn, dispose: () => (cfgFn.dispose(), oneFn.dispose()) };
}

/**
 * Sample token images (temperature 1, no top-k/top-p, as LlamaGen's GFT evaluation) for `labels`.
 * Returns tokens [n·T] and network evaluations per sample (T tokens × 1 or 2 passes). Params not consumed.
 */
export async function sampleAR(
  p: ARParams,
  cfg: ARConfig,
  o: {
    labels: Int32Array;
    guidance: Guidance;
    rng: Rng;
    chunk?: number;
    nextToken?: ReturnType<typeof makeGuidedNextToken>;
    /** Stop after this many positions (warm-up / benchmarking); default all T. */
    positions?: number;
  },
): Promise<{ tokens: Int32Array; nfe: number }> {
  const T = cfg.lm.contextLength;
  const V = cfg.lm.vocabSize;
  const n = o.labels.length;
  const chunk = o.chunk ?? n;
  const nt = o.nextToken ?? makeGuidedNextToken(cfg);
  const out = new Int32Array(n * T);
  const g = o.guidance;
  for (let s0 = 0; s0 < n; s0 += chunk) {
    const B = Math.min(chunk, n - s0);
    const y = np.array(o.labels.subarray(s0, s0 + B), { dtype: np.int32 });
    const valid = np.ones([B, T]);
    let cacheC = initKVCache(cfg.lm, B);
    let cacheU: KVCache | null = g.kind === "cfg" ? initKVCache(cfg.lm, B) : null;
    const prev = new Int32Array(B);
    for (let i = 0; i < Math.min(T, o.positions ?? T); i++) {
      const args = [np.array(prev, { dtype: np.int32 }), y.ref, np.array(i, { dtype: np.int32 }), np.array(i === 0 ? 1 : 0), valid.ref] as const;
      let probsArr: Array;
      if (g.kind === "cfg") {
        const r = nt.cfgFn(tree.ref(p), ...args, cacheC, cacheU!, np.array(g.w)) as { probs: Array; cacheC: KVCache; cacheU: KVCache };
        [probsArr, cacheC, cacheU] = [r.probs, r.cacheC, r.cacheU];
      } else {
        const r = nt.oneFn(tree.ref(p), ...args, cacheC, np.array(g.kind === "gft" ? g.beta : 1)) as { probs: Array; cache: KVCache };
        [probsArr, cacheC] = [r.probs, r.cache];
      }
      const probs = (await probsArr.data()) as Float32Array; // [B·V]
      for (let b = 0; b < B; b++) {
        let u = o.rng.next();
        let tok = V - 1;
        for (let v = 0; v < V; v++) {
          u -= probs[b * V + v];
          if (u < 0) {
            tok = v;
            break;
          }
        }
        out[(s0 + b) * T + i] = tok;
        prev[b] = tok;
      }
    }
    tree.dispose(cacheC);
    if (cacheU) tree.dispose(cacheU);
    y.dispose();
    valid.dispose();
  }
  if (!o.nextToken) nt.dispose();
  return { tokens: out, nfe: T * nfePerStep(g) };
}
