/**
 * A tiny omni-modal model after Baichuan-Omni-1.5 (arXiv 2501.15368, §3.2 and Fig. 2; shapes
 * from the released `modeling_omni.py`, `visual_modeling_omni.py`; see the spec notes §3.2):
 *
 * - Backbone: the foundation decoder-only LM (`src/nn/transformer.ts`), reading input
 *   embeddings so text, image and audio positions can be mixed in one sequence.
 * - Image branch (§3.2.1): a small ViT over 7×7 patches ("visual encoder"), then the projector
 *   "composed of a two-layer MLP to compress the visual feature by a 2×2 factor":
 *   LayerNorm(Cv) → concatenate each 2×2 block of patches (4Cv) → Linear(4Cv, 4Cv) → GELU →
 *   Linear(4Cv, D). Patches are ordered block by block so the merge is a reshape.
 * - Audio in: the embedding of a 12.5 Hz frame is Σ_i Embedding(K_i + 1, D)(code_i) over the
 *   8 RVQ layers (one extra index per table: code K_0 on layer 0 means end-of-audio).
 * - Audio out (§3.3.2: "3 layers of depth transformers and 8 classification heads", after
 *   RQ-Transformer / Moshi): for each frame, a depth sequence of length 8 at width D:
 *   position 0 = the LM's last hidden state, position i ≥ 1 = Σ_{j<i} Embedding_j(code_j) (the
 *   same tables as the input); causal attention over the 8 positions, an FFN with its own weights
 *   for each depth position, RMSNorm, and head i (size K_i + 1) on position i. Codes are decoded
 *   codebook by codebook; head 0's extra index K_0 ends the audio segment.
 *
 * Everything is a pure function over typed parameter objects; the parameter object's top-level
 * groups (`lm`, `vision`, `projector`, `audioEmbed`, `audioHead`) are the units the staged
 * training freezes and unfreezes (`stages.ts`).
 */
import { np, jnn, crossEntropy, type Array } from "../../engine/index.js";
import { KeyGen, normalInit } from "../../nn/init.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";
import { initNorm, layerNorm, rmsNorm, type LayerNorm, type RMSNorm } from "../../nn/norm.js";
import { attention, initAttention, type Attention } from "../../nn/attention.js";
import { lmForward, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { embed } from "../../nn/embedding.js";
import { encLayer, type EncLayer } from "./tokenizer.js";

export type VisionConfig = { image: number; patch: number; width: number; layers: number; heads: number };
export type OmniConfig = {
  lm: LMConfig;
  /** RVQ codebook sizes K_i of the audio tokenizer (8 layers). */
  codebookSizes: number[];
  depthLayers: number;
  depthHeads: number;
  /** Hidden width of each per-position FFN = ratio·D (the released code uses 2·D). */
  depthFfnRatio: number;
  vision: VisionConfig;
  /** Weight of the audio-head loss against the text loss. */
  audioLossWeight: number;
};

export type VisionEncoder = { patchEmbed: Linear; pos: Array; layers: EncLayer[]; ln: LayerNorm };
export type Projector = { ln: LayerNorm; fc1: Linear; fc2: Linear };
export type AudioEmbed = { tables: Array[] };
export type DepthLayer = { ln1: RMSNorm; attn: Attention; ln2: RMSNorm; up: Array; down: Array };
export type AudioHead = { layers: DepthLayer[]; ln: RMSNorm; heads: Linear[] };
export type OmniParams = { lm: LMParams; vision: VisionEncoder; projector: Projector; audioEmbed: AudioEmbed; audioHead: AudioHead };

/** The parameter groups of the freeze/unfreeze table. */
export const PARAM_GROUPS = ["lm", "vision", "projector", "audioEmbed", "audioHead"] as const;
export type ParamGroup = (typeof PARAM_GROUPS)[number];

export const nPatches = (v: VisionConfig) => (v.image / v.patch) ** 2;
/** Image tokens the LM sees per image (after the 2×2 merge). */
export const nImageTokens = (v: VisionConfig) => nPatches(v) / 4;

/**
 * A fresh (random) ViT: patch embedding, learned positions, `layers` pre-norm encoder layers, final
 * LayerNorm. Keys are drawn by name from `kg`, so `initOmni` and the vision pretraining
 * (`vision-pretrain.ts`) draw the same tower from the same seed.
 */
export function initVisionEncoder(kg: KeyGen, v: VisionConfig): VisionEncoder {
  const Cv = v.width;
  const P = v.patch * v.patch;
  return {
    patchEmbed: initLinear(kg, "vision.patch", P, Cv, { bias: true, std: Math.sqrt(1 / P) }),
    pos: normalInit(kg, "vision.pos", [nPatches(v), Cv], 0.02),
    layers: Array.from({ length: v.layers }, (_, l) => ({
      ln1: initNorm("layer", Cv) as LayerNorm,
      attn: initAttention(kg, `vision.${l}.attn`, Cv, { bias: true, outStd: 0.02 / Math.sqrt(2 * v.layers) }),
      ln2: initNorm("layer", Cv) as LayerNorm,
      mlp: {
        up: initLinear(kg, `vision.${l}.up`, Cv, 4 * Cv, { bias: true }),
        down: initLinear(kg, `vision.${l}.down`, 4 * Cv, Cv, { bias: true, std: 0.02 / Math.sqrt(2 * v.layers) }),
      },
    })),
    ln: initNorm("layer", Cv) as LayerNorm,
  };
}

/** New image/audio modules around an existing (text-pretrained) LM. */
export function initOmni(cfg: OmniConfig, lm: LMParams, seed: number): OmniParams {
  const kg = new KeyGen(seed, "omni");
  const D = cfg.lm.dModel;
  const Cv = cfg.vision.width;
  const H = Math.round(cfg.depthFfnRatio * D);
  const nPos = cfg.codebookSizes.length;
  const outStd = 0.02 / Math.sqrt(2 * cfg.depthLayers);
  return {
    lm,
    vision: initVisionEncoder(kg, cfg.vision),
    projector: {
      ln: initNorm("layer", Cv) as LayerNorm,
      fc1: initLinear(kg, "proj.fc1", 4 * Cv, 4 * Cv, { bias: true, std: Math.sqrt(1 / (4 * Cv)) }),
      fc2: initLinear(kg, "proj.fc2", 4 * Cv, D, { bias: true, std: 0.02 }),
    },
    audioEmbed: { tables: cfg.codebookSizes.map((K, i) => normalInit(kg, `audio.embed.${i}`, [K + 1, D], 0.02)) },
    audioHead: {
      layers: Array.from({ length: cfg.depthLayers }, (_, l) => ({
        ln1: initNorm("rms", D) as RMSNorm,
        attn: initAttention(kg, `depth.${l}.attn`, D, { outStd }),
        ln2: initNorm("rms", D) as RMSNorm,
        up: normalInit(kg, `depth.${l}.up`, [nPos, D, H], 0.02), // one FFN per depth position
        down: normalInit(kg, `depth.${l}.down`, [nPos, H, D], outStd),
      })),
      ln: initNorm("rms", D) as RMSNorm,
      heads: cfg.codebookSizes.map((K, i) => initLinear(kg, `depth.head.${i}`, D, K + 1)),
    },
  };
}

/**
 * Audio embedding tables started from the tokenizer's RVQ codebooks through a projection (`omni.audioEmbedInit:
 * "codebooks"`; our addition, the paper does not say how its audio embedding layer starts). Row k of table i is
 * codebook_i[k]·W, plus the bias b on table 0 only, so a frame's summed input embedding Σ_i table_i[code_i] equals
 * W·(Σ_i codebook_i[code_i]) + b: the projection of the quantised feature, what a reader trained on that projection (the
 * `whisper-pretrain` recogniser) already understands. Each table's last row (the extra index: end-of-audio on table 0)
 * keeps its value from `tables`. Consumes `tables`; `codebooks` ([K_i, Dq]) and `proj` (W [Dq, D]) are not consumed.
 */
export function codebookAudioEmbed(tables: Array[], codebooks: Array[], proj: Linear): AudioEmbed {
  if (tables.length !== codebooks.length) throw new Error(`codebookAudioEmbed: ${tables.length} audio tables but ${codebooks.length} codebooks`);
  return {
    tables: tables.map((t, i) => {
      const [K1, D] = t.shape;
      const [K, Dq] = codebooks[i].shape;
      if (K !== K1 - 1 || proj.w.shape[0] !== Dq || proj.w.shape[1] !== D)
        throw new Error(`codebookAudioEmbed: table ${i} is [${t.shape}], codebook [${codebooks[i].shape}], projection [${proj.w.shape}]; need [K + 1, D], [K, Dq], [Dq, D]`);
      let rows = np.matmul(codebooks[i].ref, proj.w.ref);
      if (i === 0 && proj.b) rows = rows.add(proj.b.ref);
      return np.concatenate([rows, t.slice([K1 - 1, K1], [])], 0);
    }),
  };
}

// ---------------------------------------------------------------- image branch

/**
 * Pixels [B, image²] (row-major, values in [0, 1]) → patch vectors [B, nPatches, patch²] ordered
 * block by block: the 4 patches of each 2×2 block are consecutive (host-side, plain JS).
 */
export function patchify(pixels: Float32Array, B: number, v: VisionConfig): Float32Array {
  const g = v.image / v.patch;
  const P = v.patch;
  const out = new Float32Array(B * g * g * P * P);
  let o = 0;
  for (let b = 0; b < B; b++)
    for (let br = 0; br < g / 2; br++)
      for (let bc = 0; bc < g / 2; bc++)
        for (let ir = 0; ir < 2; ir++)
          for (let ic = 0; ic < 2; ic++) {
            const pr = 2 * br + ir;
            const pc = 2 * bc + ic;
            for (let y = 0; y < P; y++)
              for (let x = 0; x < P; x++) out[o++] = (pixels[b * v.image * v.image + (pr * P + y) * v.image + pc * P + x] - 0.13) / 0.31;
          }
  return out;
}

/** Patches [B, N, P²] → LM-space image tokens [B, N/4, D]: ViT encoder, then the 2×2-merge MLP projector. */
/** Patches [B, N, P²] → ViT features [B, N, Cv] (bidirectional encoder layers, final LayerNorm). */
export function visionFeatures(vision: VisionEncoder, v: VisionConfig, patches: Array): Array {
  let x = linear(vision.patchEmbed, patches).add(vision.pos); // [B, N, Cv]
  for (const l of vision.layers) x = encLayer(l, x, v.heads, false);
  return layerNorm(vision.ln, x);
}

export function imageTokens(vision: VisionEncoder, proj: Projector, cfg: OmniConfig, patches: Array): Array {
  const [B, N] = patches.shape;
  const Cv = cfg.vision.width;
  const x = visionFeatures(vision, cfg.vision, patches); // [B, N, Cv]
  const merged = layerNorm(proj.ln, x).reshape([B, N / 4, 4 * Cv]); // [B, N/4, 4Cv]  2×2 merge
  return linear(proj.fc2, jnn.gelu(linear(proj.fc1, merged))); // [B, N/4, D]
}

// ---------------------------------------------------------------- audio in / out

/** Σ_i E_i(codes[..., i]): codes int32 [..., 8] → [..., D]. */
export function audioInputEmbeds(p: AudioEmbed, codes: Array): Array {
  const nL = p.tables.length;
  const parts = np.split(codes, nL, -1);
  let out: Array | null = null;
  for (let i = 0; i < nL; i++) {
    const e = embed({ table: p.tables[i] }, parts[i].reshape(parts[i].shape.slice(0, -1)));
    out = out ? out.add(e) : e;
  }
  return out!;
}

/**
 * Depth-transformer logits. h [N, D] (the LM state), codes int32 [N, 8] (teacher-forced, or the
 * codes chosen so far; only codes < i influence position i). Returns one logits array per head,
 * [N, K_i + 1]. Consumes its arguments.
 */
export function depthLogits(head: AudioHead, emb: AudioEmbed, cfg: OmniConfig, h: Array, codes: Array): Array[] {
  const [N, D] = h.shape;
  const nL = cfg.codebookSizes.length;
  const e = np.split(codes, nL, 1).map((c, i) => embed({ table: emb.tables[i] }, c.reshape([N]))); // nL × [N, D]
  const inputs: Array[] = [h.reshape([N, 1, D])];
  let acc: Array | null = null;
  for (let i = 0; i < nL - 1; i++) {
    acc = acc ? acc.add(e[i]) : e[i];
    inputs.push(acc.ref.reshape([N, 1, D]));
  }
  acc?.dispose();
  e[nL - 1].dispose();
  let x = np.concatenate(inputs, 1); // [N, 8, D]  position 0 = LM state, i = Σ_{j<i} E_j(c_j)
  for (const l of head.layers) {
    x = x.ref.add(attention(l.attn, rmsNorm(l.ln1, x), { nHeads: cfg.depthHeads, rope: false }));
    // per-position FFN: [8, N, D] · [8, D, H] → [8, N, H] → · [8, H, D]
    const hx = rmsNorm(l.ln2, x.ref).transpose([1, 0, 2]); // [8, N, D]
    const f = np.matmul(jnn.gelu(np.matmul(hx, l.up)), l.down).transpose([1, 0, 2]); // [N, 8, D]
    x = x.add(f);
  }
  x = rmsNorm(head.ln, x);
  const pos = np.split(x, nL, 1); // nL × [N, 1, D]
  return head.heads.map((hd, i) => linear(hd, pos[i].reshape([N, D])));
}

// ---------------------------------------------------------------- the whole model

/** One training/eval batch, all host-built (see `sequences.ts`). */
export type OmniBatch = {
  /** int32 [B, T] token ids (placeholders at image/audio positions). */ tokens: Array;
  /** int32 [B, T, 8] input audio codes at audio positions (0 elsewhere). */ codes: Array;
  /** float [B, T] 1 at audio-frame positions. */ audioMask: Array;
  /** float [B, N, P²] image patches (zeros for text-only rows). */ patches: Array;
  /** float [B, T, N/4] one-hot: position t holds image token j. */ imgSlots: Array;
  /** int32 [B, T] next-token targets and float [B, T] their mask. */ textTgt: Array;
  textMask: Array;
  /** float [Na, B·T] one-hot rows selecting the positions whose next frame is predicted. */ outSel: Array;
  /** int32 [Na, 8] target codes (code 0 = K_0 for end-of-audio) and float [Na, 8] head mask. */ outCodes: Array;
  outMask: Array;
};
export const BATCH_KEYS = ["tokens", "codes", "audioMask", "patches", "imgSlots", "textTgt", "textMask", "outSel", "outCodes", "outMask"] as const;

/** Input embeddings [B, T, D]: text, audio frames and image tokens in their positions. */
export function omniEmbeds(p: Omit<OmniParams, "audioHead">, cfg: OmniConfig, b: Pick<OmniBatch, "tokens" | "codes" | "audioMask" | "patches" | "imgSlots">): Array {
  const [B, T] = b.tokens.shape;
  const text = embed({ table: p.lm.wte.table.ref }, b.tokens); // [B, T, D]
  const aud = audioInputEmbeds(p.audioEmbed, b.codes); // [B, T, D]
  const img = imageTokens(p.vision, p.projector, cfg, b.patches); // [B, N/4, D]
  const imgMask = b.imgSlots.ref.sum(-1).reshape([B, T, 1]);
  const am = b.audioMask.reshape([B, T, 1]);
  const textMask = am.ref.add(imgMask).mul(-1).add(1);
  return text.mul(textMask).add(aud.mul(am)).add(np.matmul(b.imgSlots, img)); // [B, T, D]
}

/** Masked mean cross-entropy of each depth head, averaged over heads with any target. */
export function audioHeadLoss(logits: Array[], targets: Array, mask: Array): Array {
  const nL = logits.length;
  const t = np.split(targets, nL, 1);
  const m = np.split(mask, nL, 1);
  let total: Array = np.zeros([]);
  let heads: Array = np.zeros([]);
  for (let i = 0; i < nL; i++) {
    const mi = m[i].reshape([m[i].shape[0]]);
    heads = heads.add(np.minimum(mi.ref.sum(), 1));
    total = total.add(crossEntropy(logits[i], t[i].reshape([t[i].shape[0]]), mi));
  }
  return total.div(np.maximum(heads, 1));
}

/** Training loss = text CE + w · audio-head CE. Returns [loss, textLoss, audioLoss]. Consumes p and b. */
export function omniLoss(p: OmniParams, cfg: OmniConfig, b: OmniBatch): { loss: Array; textLoss: Array; audioLoss: Array } {
  const [B, T] = b.tokens.shape;
  const D = cfg.lm.dModel;
  const x = omniEmbeds({ ...p, audioEmbed: { tables: p.audioEmbed.tables.map((t) => t.ref) } }, cfg, b); // tables reused by the depth head
  const { logits, hidden } = lmForward(p.lm, cfg.lm, null, { inputEmbeds: x, returnHidden: true });
  const textLoss = crossEntropy(logits, b.textTgt, b.textMask);
  const h = np.matmul(b.outSel, hidden!.reshape([B * T, D])); // [Na, D]
  const audioLoss = audioHeadLoss(depthLogits(p.audioHead, p.audioEmbed, cfg, h, b.outCodes.ref), b.outCodes, b.outMask);
  const loss = textLoss.ref.add(audioLoss.ref.mul(cfg.audioLossWeight));
  return { loss, textLoss, audioLoss };
}

/** Forward for evaluation/generation: logits [B, T, V] and hidden [B, T, D]. Consumes p and b. */
export function omniForward(p: Omit<OmniParams, "audioHead">, cfg: OmniConfig, b: Pick<OmniBatch, "tokens" | "codes" | "audioMask" | "patches" | "imgSlots">): { logits: Array; hidden: Array } {
  const x = omniEmbeds(p, cfg, b);
  const { logits, hidden } = lmForward(p.lm, cfg.lm, null, { inputEmbeds: x, returnHidden: true });
  return { logits, hidden: hidden! };
}
