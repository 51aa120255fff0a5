/**
 * Baichuan-Audio-Tokenizer, scaled down (Baichuan-Omni-1.5, arXiv 2501.15368, §3.2.2; shapes from
 * the released `audio_modeling_omni.py` / `config.json`, see the spec notes):
 *
 *   log-mel [B, T, M] at 100 Hz
 *   → Conv1d(M→C, k3, s1)+GELU → Conv1d(C→C, k3, s2)+GELU            (50 Hz, Whisper encoder stem)
 *   → + sinusoidal positions → L pre-LN bidirectional transformer layers → LayerNorm
 *   → gated-conv downsampler (Conv1d(C→4C, k4, s4) gate and up; residual = the 4 frames
 *     concatenated): LayerNorm(down(SiLU(gate) ⊙ up) + residual)          (12.5 Hz, width 4C)
 *   → 8-layer RVQ with decreasing codebook sizes, EMA codebooks           (`rvq.ts`)
 *   → Linear(4C→C) → causal ConvTranspose1d(C→C, k3, s4) + GroupNorm     (50 Hz)
 *   → + positions → L' causal transformer layers → LayerNorm
 *   → causal ConvTranspose1d(C→M, k3, s2) → coarse mel                    (100 Hz)
 *   → post-net: 4 × [Conv1d k5, GroupNorm, Mish] + 1×1 projection, residual → refined mel.
 *
 * Losses: multi-scale mel L1 + L2 on coarse and refined mel (average-pooled by 1, 2, 4 in time and
 * frequency; the paper cites MELLE / Transformer-TTS and gives no weights), the RVQ commitment
 * loss, and, for the T2 variant, "transcript prediction" by a frozen pretrained LM that reads the
 * quantised frames (projected to its width) and predicts the transcript (§3.2.2: "the parameters
 * of pretrained LLM are fixed").
 *
 * Convolutions are written as unfold + matmul (x [B, T, C] → [B, T, k·C] · W[k·C, C']).
 */
import { np, jnn, lax, crossEntropy, disposeTree, refTree, type Array, type JsTree } from "../../engine/index.js";
import { KeyGen, normalInit } from "../../nn/init.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";
import { initNorm, layerNorm, type LayerNorm } from "../../nn/norm.js";
import { attention, initAttention, type Attention } from "../../nn/attention.js";
import { initMLP, mlp, type MLP } from "../../nn/mlp.js";
import { lmForward, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { embed } from "../../nn/embedding.js";
import { initRVQ, rvqEmaUpdate, rvqQuantize, type RVQState } from "./rvq.js";

export type TokenizerConfig = {
  /** Mel bins M of the input and the reconstruction. */
  nMels: number;
  /** Encoder/decoder width C (the RVQ works at 4C, like 1280 → 5120 in the paper). */
  width: number;
  encLayers: number;
  decLayers: number;
  heads: number;
  /** Codebook size of each RVQ layer (8 layers, decreasing). */
  codebookSizes: number[];
  postnetChannels: number;
  postnetLayers: number;
  /** GroupNorm groups in the decoder and post-net. */
  groups: number;
  /** Kernel of the decoder's stride-4 transposed conv (3 in the released code). */
  up4Kernel: number;
  emaDecay: number;
  /** Dead-code restart threshold on the EMA cluster size (0: off). */
  deadCodeThreshold: number;
  commitWeight: number;
  /** Weight of the frozen-LM transcript loss: 0 = T1 (reconstruction only), > 0 = T2. */
  transcriptWeight: number;
  /** Pool factors of the multi-scale mel loss. */
  melScales: number[];
  /**
   * T2's adapter from the quantised frames to the frozen LM's input (not in any preset's schema; pilots): "linear"
   * (default) maps each frame to the LM's width; "softTokens" maps it to a distribution over the LM's vocabulary and feeds
   * the expected word embedding (softmax(W·zq)·wte), so the prefix stays among the embeddings the LM was trained on.
   */
  semAdapter?: "linear" | "softTokens";
};

export type Conv1d = { w: Array; b: Array };
export type EncLayer = { ln1: LayerNorm; attn: Attention; ln2: LayerNorm; mlp: MLP };
export type TokNet = {
  conv1: Conv1d;
  conv2: Conv1d;
  enc: EncLayer[];
  encLn: LayerNorm;
  pool: { gate: Linear; up: Linear; down: Linear; ln: LayerNorm };
  dec: { inProj: Linear; up4: Linear; gn: LayerNorm; layers: EncLayer[]; ln: LayerNorm; up2: Linear };
  post: { convs: Conv1d[]; gns: LayerNorm[]; proj: Linear };
};
/** The encoder part (everything `encodeFeatures` reads): what `whisper-pretrain.ts` pretrains. */
export type EncoderNet = Pick<TokNet, "conv1" | "conv2" | "enc" | "encLn" | "pool">;
/** Trainable tokenizer, its EMA codebooks, and (T2) the projection into the frozen LM plus that LM. */
export type TokParams = { net: TokNet; vq: RVQState; sem?: { proj: Linear }; lm?: LMParams };

export const FRAME_RATE_IN = 100;
export const DOWNSAMPLE = 8; // 100 Hz -> 50 Hz (stride-2 conv) -> 12.5 Hz (4x pool)

function initConv(kg: KeyGen, name: string, k: number, cin: number, cout: number): Conv1d {
  return { w: normalInit(kg, `${name}.w`, [k * cin, cout], Math.sqrt(1 / (k * cin))), b: np.zeros([cout]) };
}

function initEncLayer(kg: KeyGen, name: string, C: number, L: number): EncLayer {
  const outStd = 0.02 / Math.sqrt(2 * L);
  return {
    ln1: initNorm("layer", C) as LayerNorm,
    attn: initAttention(kg, `${name}.attn`, C, { bias: true, outStd }),
    ln2: initNorm("layer", C) as LayerNorm,
    mlp: initMLP(kg, `${name}.mlp`, C, 4 * C, "gelu", { bias: true, outStd }),
  };
}

export function initTokNet(cfg: TokenizerConfig, seed: number): TokNet {
  const kg = new KeyGen(seed, "tokenizer");
  const C = cfg.width;
  const M = cfg.nMels;
  const P = cfg.postnetChannels;
  const std = (n: number) => ({ std: Math.sqrt(1 / n), bias: true });
  return {
    conv1: initConv(kg, "conv1", 3, M, C),
    conv2: initConv(kg, "conv2", 3, C, C),
    enc: Array.from({ length: cfg.encLayers }, (_, l) => initEncLayer(kg, `enc.${l}`, C, cfg.encLayers)),
    encLn: initNorm("layer", C) as LayerNorm,
    pool: {
      gate: initLinear(kg, "pool.gate", 4 * C, 4 * C, std(4 * C)),
      up: initLinear(kg, "pool.up", 4 * C, 4 * C, std(4 * C)),
      down: initLinear(kg, "pool.down", 4 * C, 4 * C, std(4 * C)),
      ln: initNorm("layer", 4 * C) as LayerNorm,
    },
    dec: {
      inProj: initLinear(kg, "dec.in", 4 * C, C, std(4 * C)),
      up4: initLinear(kg, "dec.up4", C, cfg.up4Kernel * C, std(C)),
      gn: initNorm("layer", C) as LayerNorm,
      layers: Array.from({ length: cfg.decLayers }, (_, l) => initEncLayer(kg, `dec.${l}`, C, cfg.decLayers)),
      ln: initNorm("layer", C) as LayerNorm,
      up2: initLinear(kg, "dec.up2", C, 3 * M, std(C)),
    },
    post: {
      convs: Array.from({ length: cfg.postnetLayers }, (_, l) => initConv(kg, `post.${l}`, 5, l === 0 ? M : P, P)),
      gns: Array.from({ length: cfg.postnetLayers }, () => initNorm("layer", P) as LayerNorm),
      proj: { w: np.zeros([P, M]), b: np.zeros([M]) },
    },
  };
}

/** Fresh tokenizer parameters (EMA codebooks at N(0, 0.5²); the first step restarts them from data). */
export function initTokenizer(cfg: TokenizerConfig, seed: number, lm?: { params: LMParams; cfg: LMConfig }): TokParams {
  const kg = new KeyGen(seed, "rvq");
  const p: TokParams = {
    net: initTokNet(cfg, seed),
    vq: initRVQ(cfg.codebookSizes, 4 * cfg.width, (i) => kg.key(`codebook.${i}`), 0.5),
  };
  if (cfg.transcriptWeight > 0) {
    if (!lm) throw new Error("tokenizer.transcriptWeight > 0 (T2) needs the frozen text LM");
    const out = cfg.semAdapter === "softTokens" ? lm.cfg.vocabSize : lm.cfg.dModel;
    p.sem = { proj: initLinear(kg, "sem.proj", 4 * cfg.width, out, { std: Math.sqrt(1 / (4 * cfg.width)), bias: true }) };
    p.lm = lm.params;
  }
  return p;
}

// ---------------------------------------------------------------- building blocks

/** x [B, T, C] → [B, T, k·C]: frame t holds x[t − left .. t − left + k − 1] (zero padded). */
export function unfold(x: Array, k: number, left: number): Array {
  const [, T] = x.shape;
  const xp = np.pad(x, [
    [0, 0],
    [left, k - 1 - left],
    [0, 0],
  ]);
  const parts: Array[] = [];
  for (let j = 0; j < k; j++) parts.push(j === k - 1 ? xp.slice([], [j, j + T], []) : xp.ref.slice([], [j, j + T], []));
  return np.concatenate(parts, -1);
}

/** Conv1d with kernel k and stride s, "same" padding (centred) or causal: [B, T, C] → [B, T/s, C']. */
export function conv1d(p: Conv1d, x: Array, k: number, o: { stride?: number; causal?: boolean } = {}): Array {
  const s = o.stride ?? 1;
  const left = o.causal ? k - 1 : Math.floor((k - 1) / 2);
  let u = unfold(x, k, left); // [B, T, k·C]
  if (s > 1) {
    const [B, T, KC] = u.shape;
    u = u.reshape([B, T / s, s, KC]).slice([], [], 0, []); // keep frames 0, s, 2s, ...
  }
  return np.matmul(u, p.w).add(p.b);
}

/** Group normalisation over (time, channels of the group) per example; affine per channel. */
export function groupNorm(p: LayerNorm, x: Array, groups: number, mask?: Array, eps = 1e-5): Array {
  const [B, T, C] = x.shape;
  const g = x.reshape([B, T, groups, C / groups]);
  let mean: Array;
  let v: Array;
  if (mask) {
    const m = mask.reshape([B, T, 1, 1]);
    const n = m.ref.sum([1, 3], { keepdims: true }).mul(C / groups); // [B,1,1,1]
    mean = g.ref.mul(m.ref).sum([1, 3], { keepdims: true }).div(n.ref);
    const xc = g.sub(mean);
    v = np.square(xc.ref).mul(m).sum([1, 3], { keepdims: true }).div(n);
    return xc.mul(np.reciprocal(np.sqrt(v.add(eps)))).reshape([B, T, C]).mul(p.g).add(p.b);
  }
  mean = g.ref.mean([1, 3], { keepdims: true });
  const xc = g.sub(mean);
  v = np.square(xc.ref).mean([1, 3], { keepdims: true });
  return xc.mul(np.reciprocal(np.sqrt(v.add(eps)))).reshape([B, T, C]).mul(p.g).add(p.b);
}

/** Whisper's sinusoidal position table [T, C] (sin half, then cos half). */
export function sinusoids(T: number, C: number): Array {
  const half = C / 2;
  const inc = Math.log(10000) / (half - 1);
  const out = new Float32Array(T * C);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < half; i++) {
      const a = t * Math.exp(-inc * i);
      out[t * C + i] = Math.sin(a);
      out[t * C + half + i] = Math.cos(a);
    }
  return np.array(out).reshape([T, C]);
}

/** Pre-LN transformer layer; bidirectional (encoder) or causal (decoder). */
export function encLayer(p: EncLayer, x: Array, heads: number, causal: boolean): Array {
  let a: Array;
  if (causal) a = attention(p.attn, layerNorm(p.ln1, x.ref), { nHeads: heads, rope: false });
  else {
    const h = layerNorm(p.ln1, x.ref);
    const [B, T, C] = h.shape;
    const qkv = linear(p.attn.qkv, h).reshape([B, T, 3, heads, C / heads]);
    const [q, k, v] = np.split(qkv, 3, 2).map((z) => z.reshape([B, T, heads, C / heads]));
    a = linear(p.attn.out, jnn.dotProductAttention(q, k, v).reshape([B, T, C]));
  }
  const y = x.add(a);
  return y.ref.add(mlp(p.mlp, layerNorm(p.ln2, y)));
}

// ---------------------------------------------------------------- encoder / decoder

/** mel [B, T, M] (T a multiple of 8) → continuous 12.5 Hz features z [B, T/8, 4C]. */
export function encodeFeatures(net: EncoderNet, cfg: TokenizerConfig, mel: Array): Array {
  const [B, T] = mel.shape;
  if (T % DOWNSAMPLE !== 0) throw new Error(`tokenizer: mel frames (${T}) must be a multiple of ${DOWNSAMPLE}`);
  const C = cfg.width;
  let x = jnn.gelu(conv1d(net.conv1, mel, 3)); // [B, T, C]        100 Hz
  x = jnn.gelu(conv1d(net.conv2, x, 3, { stride: 2 })); // [B, T/2, C]  50 Hz
  x = x.add(sinusoids(T / 2, C));
  for (const l of net.enc) x = encLayer(l, x, cfg.heads, false);
  x = layerNorm(net.encLn, x); // [B, T/2, C]
  // Gated-conv downsampler: a kernel-4 stride-4 conv is a linear map of 4 concatenated frames.
  const r = x.reshape([B, T / 8, 4 * C]); // [B, T/8, 4C]  12.5 Hz, the concatenation residual
  const gated = jnn.silu(linear(net.pool.gate, r.ref)).mul(linear(net.pool.up, r.ref));
  return layerNorm(net.pool.ln, linear(net.pool.down, gated).add(r)); // [B, T/8, 4C]
}

/** Quantised features zq [B, T12, 4C] → { coarse, refined } mel [B, 8·T12, M]. */
export function decodeMel(net: TokNet, cfg: TokenizerConfig, zq: Array): { coarse: Array; refined: Array } {
  const [B, T12] = zq.shape;
  const C = cfg.width;
  const M = cfg.nMels;
  const k4 = cfg.up4Kernel;
  let x = linear(net.dec.inProj, zq); // [B, T12, C]
  // Causal ConvTranspose1d(k, stride 4), k <= 4: input frame t writes output frames 4t .. 4t+k-1.
  x = linear(net.dec.up4, x).reshape([B, T12, k4, C]);
  if (k4 < 4) x = np.pad(x, [[0, 0], [0, 0], [0, 4 - k4], [0, 0]]);
  x = x.reshape([B, 4 * T12, C]); // [B, T50, C]  50 Hz
  x = groupNorm(net.dec.gn, x, cfg.groups);
  x = x.add(sinusoids(4 * T12, C));
  for (const l of net.dec.layers) x = encLayer(l, x, cfg.heads, true);
  x = layerNorm(net.dec.ln, x);
  // Causal ConvTranspose1d(C→M, k3, s2): out[2t] = W0·x[t] + W2·x[t−1], out[2t+1] = W1·x[t].
  const T50 = 4 * T12;
  const y = linear(net.dec.up2, x).reshape([B, T50, 3, M]);
  const [y0, y1, y2] = np.split(y, 3, 2).map((z) => z.reshape([B, T50, M]));
  const y2s = np.pad(y2, [[0, 0], [1, 0], [0, 0]]).slice([], [0, T50], []); // x[t−1] term
  const coarse = np.stack([y0.add(y2s), y1], 2).reshape([B, 2 * T50, M]); // [B, T, M] 100 Hz
  // Post-net: 4 × [Conv1d k5, GroupNorm, Mish] + 1×1 projection, residual.
  let h = coarse.ref;
  net.post.convs.forEach((c, i) => {
    h = jnn.mish(groupNorm(net.post.gns[i], conv1d(c, h, 5), cfg.groups));
  });
  const refined = coarse.ref.add(linear(net.post.proj, h));
  return { coarse, refined };
}

/**
 * Multi-scale mel loss: Σ_s [L1 + L2] between average-pooled (s×s in time × frequency) prediction
 * and target, over valid frames. pred/target [B, T, M]; mask [B, T].
 */
export function multiScaleMelLoss(pred: Array, target: Array, mask: Array, scales: number[]): Array {
  const [B, T, M] = pred.shape;
  const m = mask.reshape([B, T, 1]);
  const d = pred.sub(target).mul(m.ref); // [B, T, M]
  let total: Array = np.zeros([]);
  scales.forEach((s, i) => {
    const last = i === scales.length - 1;
    const di = last ? d : d.ref;
    const mi = last ? m : m.ref;
    const pooled = s === 1 ? di : di.reshape([B, T / s, s, M / s, s]).mean([2, 4]); // [B, T/s, M/s]
    const n = np.maximum(mi.sum(), 1).mul(M / s / s); // valid pooled cells ≈ valid frames/s · M/s
    total = total.add(np.abs(pooled.ref).sum().add(np.square(pooled).sum()).div(n));
  });
  return total;
}

// ---------------------------------------------------------------- loss and EMA step

export type TokBatch = {
  /** [B, T, M] log-mel. */ mel: Array;
  /** [B, T] 1 on real frames. */ mask100: Array;
  /** [B, T/8] 1 on real 12.5 Hz frames. */ mask12: Array;
  /** T2 only: [B, L] ids of the frozen-LM text part (after the audio prefix), targets, target mask. */
  textIn?: Array;
  textTgt?: Array;
  textMask?: Array;
  /** Dead-code candidates: int32 [Kmax] indices of valid 12.5 Hz rows (flattened B·T/8). */
  candIdx?: Array;
};

/** Metric names of `tokenizerLoss` (logged per step). */
export const TOKENIZER_METRICS = ["melLoss", "commitLoss", "transcriptLoss"];

/**
 * The tokenizer objective. Returns the loss, per-step metrics and the RVQ statistics for the EMA
 * update (`tokenizerPost`). The frozen LM (T2) is a plain input: the group step never
 * differentiates it.
 */
export function tokenizerLoss(p: TokParams, cfg: TokenizerConfig, lmCfg: LMConfig | null, b: TokBatch): { loss: Array; metrics: Array[]; stats: JsTree<Array> } {
  const [B, T] = b.mel.shape;
  const T12 = T / DOWNSAMPLE;
  const D = 4 * cfg.width;
  const z = encodeFeatures(p.net, cfg, b.mel.ref).reshape([B * T12, D]); // [B·T12, D]
  const q = rvqQuantize(p.vq.embed.map((e) => e.ref), z.ref, b.mask12.ref.reshape([B * T12]));
  disposeTree(p.vq);
  // Straight-through estimator: forward = Σ_i q_i, gradient = identity into z.
  const zq = z.ref.add(lax.stopGradient(q.quantized.sub(z))).reshape([B, T12, D]); // [B, T12, D]
  const { coarse, refined } = decodeMel(p.net, cfg, zq.ref);
  const melLoss = multiScaleMelLoss(coarse, b.mel.ref, b.mask100.ref, cfg.melScales).add(multiScaleMelLoss(refined, b.mel, b.mask100, cfg.melScales));
  let loss = melLoss.ref.add(q.commitLoss.ref.mul(cfg.commitWeight));
  let transcript: Array = np.zeros([]);
  if (cfg.transcriptWeight > 0) {
    if (!p.sem || !p.lm || !lmCfg || !b.textIn || !b.textTgt || !b.textMask) throw new Error("tokenizer T2: missing sem/lm params or text batch");
    const L = b.textIn.shape[1];
    const prefix = cfg.semAdapter === "softTokens" ? np.matmul(jnn.softmax(linear(p.sem.proj, zq), -1), p.lm.wte.table.ref) : linear(p.sem.proj, zq); // [B, T12, Dlm]
    const text = embed({ table: p.lm.wte.table.ref }, b.textIn); // [B, L, Dlm]
    const { logits } = lmForward(p.lm, lmCfg, null, { inputEmbeds: np.concatenate([prefix, text], 1) }); // [B, T12+L, V]
    transcript = crossEntropy(logits.slice([], [T12, T12 + L], []), b.textTgt, b.textMask);
    loss = loss.add(transcript.ref.mul(cfg.transcriptWeight));
  } else {
    zq.dispose();
    if (p.sem) disposeTree(p.sem);
    if (p.lm) disposeTree(p.lm);
    for (const a of [b.textIn, b.textTgt, b.textMask]) a?.dispose();
  }
  // Dead-code candidates: residual rows drawn (by the host) from valid frames.
  const cands = q.residuals.map((r, i) => np.take(r, b.candIdx!.ref.slice([0, cfg.codebookSizes[i]]), 0)); // [K_i, D]
  b.candIdx!.dispose();
  q.codes.forEach((c) => c.dispose());
  return { loss, metrics: [melLoss, q.commitLoss, transcript], stats: { counts: q.counts, sums: q.sums, cands } };
}

/** The EMA codebook update after each optimizer step (forced data restart of every code at step 1). */
export function tokenizerPost(cfg: TokenizerConfig) {
  return (params: TokParams, stats: JsTree<Array>, t: Array): TokParams => {
    const s = stats as { counts: Array[]; sums: Array[]; cands: Array[] };
    const vq = rvqEmaUpdate(params.vq, s.counts, s.sums, { decay: cfg.emaDecay }, { candidates: s.cands, threshold: cfg.deadCodeThreshold, force: t.equal(1) });
    return { ...params, vq };
  };
}

/** Inference: mel [B, T, M] → codes int32 [B, T/8, nLayers] (params not consumed). */
export function tokenizerEncode(p: { net: TokNet; vq: RVQState }, cfg: TokenizerConfig, mel: Array): Array {
  const [B, T] = mel.shape;
  const T12 = T / DOWNSAMPLE;
  const z = encodeFeatures(refTree(p.net), cfg, mel).reshape([B * T12, 4 * cfg.width]);
  const q = rvqQuantize(p.vq.embed.map((e) => e.ref), z, np.ones([B * T12]));
  q.quantized.dispose();
  q.commitLoss.dispose();
  disposeTree([q.counts, q.sums, q.residuals]);
  return np.stack(q.codes, -1).reshape([B, T12, q.codes.length]);
}

/**
 * Inference: codes int32 [B, T12, nLayers] → refined mel [B, 8·T12, M], decoding with the first
 * `layers` RVQ layers given as a float mask [nLayers] (1 = use the layer). Params not consumed.
 */
export function tokenizerDecode(p: { net: TokNet; vq: RVQState }, cfg: TokenizerConfig, codes: Array, layerMask: Array): Array {
  const [B, T12, nL] = codes.shape;
  const D = 4 * cfg.width;
  let zq: Array = np.zeros([B, T12, D]);
  const cs = np.split(codes, nL, 2);
  for (let i = 0; i < nL; i++) {
    const qi = np.take(p.vq.embed[i].ref, cs[i].reshape([B * T12]), 0).reshape([B, T12, D]);
    zq = zq.add(qi.mul(layerMask.ref.slice([i, i + 1])));
  }
  layerMask.dispose();
  const out = decodeMel(refTree(p.net), cfg, zq);
  out.coarse.dispose();
  return out.refined;
}
