/**
 * The vision-language policy of GeneralPoints-VL ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.1, §5.2-5.3,
 * App. A.3): the four cards are shown as an image instead of text; a small patch encoder turns the image into a
 * few LM-space vectors that replace image-placeholder tokens in the prompt (the LM reads them through
 * `lmForward(..., { inputEmbeds })`, generation through `generate(..., { prefillEmbeds })`).
 *
 * Image: the environment's table renderer (`renderHand`, released layout: green table, card width
 * floor(size/4·0.9), height ·7/5, card i at x = 5 + floor(i·width·1.1), vertically centred) at size 112, where
 * the rank is drawn with the 5×7 font at scale 1 (legible, no resampling); we keep the 36-row band holding the
 * cards (the rest of the square table is empty green) as a 36×112 grayscale grid in [0, 1]. Black suits render
 * dark ink (gray ≈ 0.08) and red suits a mid gray (≈ 0.29), so the visual-OOD split is a real input shift.
 *
 * Encoder (ours; the paper's is Llama-3.2-Vision's ViT + projector): 14 column-strip patches of 36×8 pixels,
 *   e_i = W_p·(2x_i − 1) + b_p + pos_i  (Cv),   t_i = W_o·GELU(e_i) + b_o  (D),  i = 1..14,
 * placed at the 14 `<|image|>` tokens at the start of the first user message (Llama 3.2 Vision's image token also
 * leads the user turn). Both SFT and PPO train LM + encoder: the released SFT is a full fine-tune (vision tower,
 * projector and LLM unfrozen) and the released PPO optimises the whole model.
 *
 * Card recognition (§5.3): an answer recognises the cards when its "cards" list, normalised as the released VL
 * verifier does, equals the shown cards as a multiset (the check of `verifyAnswer(..., { vision: true })`).
 */
import { jnn, np, type Array } from "../../engine/index.js";
import { parseAnswer, renderHand, type Card, type Hand } from "../../envs/index.js";
import { embed } from "../../nn/embedding.js";
import { KeyGen, normalInit } from "../../nn/init.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";
import type { LMParams } from "../../nn/transformer.js";

/** Table side the environment renders at, and the kept band. */
export const VL_RENDER_SIZE = 112;
export const VL_IMAGE_H = 36;
export const VL_IMAGE_W = VL_RENDER_SIZE;
/** Column-strip patch width (pixels) and the number of image tokens. */
export const VL_PATCH_W = 8;
export const VL_IMAGE_TOKENS = VL_IMAGE_W / VL_PATCH_W;
export const VL_PATCH_DIM = VL_IMAGE_H * VL_PATCH_W;
/** The image placeholder (one phrase token each); the prompt starts with `VL_IMAGE_TOKENS` of them. */
export const IMAGE_TOKEN = "<|image|>";
export const IMAGE_TEXT = IMAGE_TOKEN.repeat(VL_IMAGE_TOKENS) + "\n";

/** The image of four cards: [VL_IMAGE_H × VL_IMAGE_W] grayscale in [0, 1], row-major. */
export function cardImage(cards: readonly Card[]): Float32Array {
  const c = renderHand(cards, { size: VL_RENDER_SIZE });
  const w = Math.floor((VL_RENDER_SIZE / Math.max(1, cards.length)) * 0.9);
  const h = Math.floor((w * 7) / 5);
  const top = Math.floor((VL_RENDER_SIZE - h) / 2) - Math.floor((VL_IMAGE_H - h) / 2);
  const out = new Float32Array(VL_IMAGE_H * VL_IMAGE_W);
  for (let y = 0; y < VL_IMAGE_H; y++)
    for (let x = 0; x < VL_IMAGE_W; x++) {
      const i = ((top + y) * c.width + x) * 4;
      out[y * VL_IMAGE_W + x] = (0.299 * c.data[i] + 0.587 * c.data[i + 1] + 0.114 * c.data[i + 2]) / 255;
    }
  return out;
}

/** Images [n][H·W] → patch vectors [n, tokens, 36·8] (column strips left to right, pixels scaled to [−1, 1]). */
export function patchify(images: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(images.length * VL_IMAGE_TOKENS * VL_PATCH_DIM);
  let o = 0;
  for (const im of images)
    for (let p = 0; p < VL_IMAGE_TOKENS; p++)
      for (let y = 0; y < VL_IMAGE_H; y++) for (let x = 0; x < VL_PATCH_W; x++) out[o++] = 2 * im[y * VL_IMAGE_W + p * VL_PATCH_W + x] - 1;
  return out;
}

/** The patch encoder + projector. */
export type VisionParams = { patch: Linear; pos: Array; proj: Linear };

export function initVision(dModel: number, seed: number, width = dModel): VisionParams {
  const kg = new KeyGen(seed, "vision");
  return {
    patch: initLinear(kg, "patch", VL_PATCH_DIM, width, { bias: true, std: 1 / Math.sqrt(VL_PATCH_DIM) }),
    pos: normalInit(kg, "pos", [VL_IMAGE_TOKENS, width], 0.02),
    proj: initLinear(kg, "proj", width, dModel, { bias: true, std: 0.02 }),
  };
}

/** Patches [B, tokens, 288] → image tokens [B, tokens, D]. Consumes everything. */
export function imageTokens(v: VisionParams, patches: Array): Array {
  const e = linear(v.patch, patches).add(v.pos); // [B, N, Cv]
  return linear(v.proj, jnn.gelu(e)); // [B, N, D]
}

/**
 * Host one-hot [B, T, tokens]: the k-th `<|image|>` id of row b gets slot k (later ones, if any, get none).
 * `tokens` is row-major [B, T].
 */
export function imageSlots(tokens: ArrayLike<number>, B: number, T: number, imageId: number): Float32Array {
  const s = new Float32Array(B * T * VL_IMAGE_TOKENS);
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (let t = 0; t < T && k < VL_IMAGE_TOKENS; t++) if (tokens[b * T + t] === imageId) s[(b * T + t) * VL_IMAGE_TOKENS + k++] = 1;
  }
  return s;
}

/**
 * LM input embeddings with the image spliced in: wte(tokens) where there is no image slot, image token k at the
 * position of slot k. wte: the LM's token table (consumed; pass `.ref`), tokens int32 [B, T], slots [B, T, N],
 * patches [B, N, 288]. Returns [B, T, D].
 */
export function spliceImage(wte: Array, v: VisionParams, tokens: Array, slots: Array, patches: Array): Array {
  const [B, T] = tokens.shape;
  const text = embed({ table: wte }, tokens); // [B, T, D]
  const img = imageTokens(v, patches); // [B, N, D]
  const keep = slots.ref.sum(-1).reshape([B, T, 1]).mul(-1).add(1);
  return text.mul(keep).add(np.matmul(slots, img));
}

/** Host arrays → device arrays of one batch: slots [B, T, N] and patches [B, N, 288]. */
export function imageBatch(tokens: ArrayLike<number>, B: number, T: number, imageId: number, images: readonly Float32Array[]): [Array, Array] {
  return [np.array(imageSlots(tokens, B, T, imageId)).reshape([B, T, VL_IMAGE_TOKENS]), np.array(patchify(images)).reshape([B, VL_IMAGE_TOKENS, VL_PATCH_DIM])];
}

/**
 * The `prefillEmbeds` of `generate` for a batch whose row r shows `images[r]`: params are not consumed.
 */
export function prefillEmbedder(lm: LMParams, v: VisionParams, imageId: number, images: readonly Float32Array[]): (tokens: Int32Array, rows: number[], L: number) => Array {
  return (tokens, rows, L) => {
    const B = rows.length;
    const [slots, patches] = imageBatch(tokens, B, L, imageId, rows.map((r) => images[r]));
    const vr: VisionParams = { patch: { w: v.patch.w.ref, b: v.patch.b!.ref }, pos: v.pos.ref, proj: { w: v.proj.w.ref, b: v.proj.b!.ref } };
    return spliceImage(lm.wte.table.ref, vr, np.array(tokens, { dtype: np.int32 }).reshape([B, L]), slots, patches);
  };
}

/** Whether an answer's "cards" list names the shown cards (the VL verifier's recognition check, §5.3). */
export function recognizesCards(hand: Hand, answer: string): boolean {
  const a = [...hand.names].sort();
  const b = [...parseAnswer(answer).cards].sort();
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
