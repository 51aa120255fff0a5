/**
 * The trivial baselines every trained loss is read against (the protocol's "trained, not barely
 * moved"): add-α unigram and bigram models fitted on the training split and scored on the held-out
 * split, for text (bytes) and for images (VQ codes in raster order). Host-side counts only: they
 * touch no random stream and no trained number.
 */
import { bigramLoss } from "../../lm/bigram.js";
import type { MoMData } from "./data.js";
import type { ModalityBaselines } from "./summary.js";

/** Held-out NLL of an add-α unigram fitted on `train` (α chosen on `val`, as `bigramLoss` does). */
export function unigramLoss(train: Int32Array, val: Int32Array, V: number, alphas = [1, 0.1, 0.01, 0.001]): number {
  const counts = new Float64Array(V);
  for (const t of train) counts[t]++;
  let best = Infinity;
  for (const a of alphas) {
    let s = 0;
    for (const t of val) s -= Math.log((counts[t] + a) / (train.length + a * V));
    best = Math.min(best, s / val.length);
  }
  return best;
}

function baselinesOf(train: Int32Array, val: Int32Array, V: number): ModalityBaselines {
  const b = bigramLoss(train, val, V);
  return { unigram: unigramLoss(train, val, V), bigram: b.nll, bigramAlpha: b.alpha };
}

const concat = (xs: Int32Array[]) => {
  const out = new Int32Array(xs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of xs) {
    out.set(x, o);
    o += x.length;
  }
  return out;
};

/**
 * Text: bytes of the training / validation text (V = 256). Image: the codes of the training /
 * validation digits, one digit after the other (1 transition in 49 crosses two digits).
 */
export function modalityBaselines(data: Pick<MoMData, "text" | "imageCodes" | "codebook">): { text: ModalityBaselines; image: ModalityBaselines } {
  return {
    text: baselinesOf(data.text.train, data.text.val, 256),
    image: baselinesOf(concat(data.imageCodes.train), concat(data.imageCodes.val), data.codebook.K),
  };
}
