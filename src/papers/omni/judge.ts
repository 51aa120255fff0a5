/**
 * The judge of spoken answers: a 10-way digit-word classifier on the tokenizer's codes. Features
 * are the bags of codes of the first `layers` RVQ layers in `segments` successive parts of the
 * utterance (each a code histogram divided by the part's frames) plus its length; the classifier is a
 * multinomial logistic regression trained by full-batch gradient descent (plain host code, no
 * tensors: it is small and deterministic). It learns from digit words spoken by training voices
 * and is scored on digit words spoken by held-out voices; that accuracy is the ceiling of any
 * speech-out score it gives.
 */
import type { Codes } from "./sequences.js";

export type JudgeConfig = { codebookSizes: number[]; layers: number; segments: number; steps: number; lr: number; l2: number };
export type DigitJudge = { cfg: JudgeConfig; w: Float64Array; b: Float64Array; nFeat: number; nClass: number };

/**
 * Feature vector of one utterance's codes: for each of `segments` equal parts of the utterance (in
 * time order), the histogram of each read layer's codes divided by the part's frames; then seconds.
 */
export function judgeFeatures(codes: Codes, cfg: Pick<JudgeConfig, "codebookSizes" | "layers" | "segments">): Float64Array {
  const sizes = cfg.codebookSizes.slice(0, cfg.layers);
  const n = sizes.reduce((a, b) => a + b, 0);
  const S = cfg.segments;
  const x = new Float64Array(S * n + 1);
  const T = codes.length;
  const count = new Float64Array(S);
  codes.forEach((_, t) => count[Math.min(S - 1, Math.floor((t * S) / Math.max(1, T)))]++);
  codes.forEach((frame, t) => {
    const seg = Math.min(S - 1, Math.floor((t * S) / Math.max(1, T)));
    let off = seg * n;
    sizes.forEach((K, l) => {
      const c = frame[l];
      if (c >= 0 && c < K) x[off + c] += 1 / count[seg];
      off += K;
    });
  });
  x[S * n] = T / 12.5; // seconds
  return x;
}

function softmaxRow(z: Float64Array): Float64Array {
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v);
  let s = 0;
  const p = new Float64Array(z.length);
  z.forEach((v, i) => (s += p[i] = Math.exp(v - m)));
  return p.map((v) => v / s);
}

function logits(j: DigitJudge, x: Float64Array): Float64Array {
  const z = Float64Array.from(j.b);
  for (let f = 0; f < j.nFeat; f++) {
    const xf = x[f];
    if (xf === 0) continue;
    for (let c = 0; c < j.nClass; c++) z[c] += xf * j.w[f * j.nClass + c];
  }
  return z;
}

/** Train the classifier on (codes, label) pairs, labels in [0, nClass). */
export function trainJudge(examples: { codes: Codes; label: number }[], nClass: number, cfg: JudgeConfig): DigitJudge {
  const xs = examples.map((e) => judgeFeatures(e.codes, cfg));
  const nFeat = xs[0]?.length ?? 1;
  const j: DigitJudge = { cfg, w: new Float64Array(nFeat * nClass), b: new Float64Array(nClass), nFeat, nClass };
  const N = Math.max(1, xs.length);
  for (let it = 0; it < cfg.steps; it++) {
    const gw = new Float64Array(nFeat * nClass);
    const gb = new Float64Array(nClass);
    xs.forEach((x, i) => {
      const p = softmaxRow(logits(j, x));
      p[examples[i].label] -= 1;
      for (let c = 0; c < nClass; c++) gb[c] += p[c] / N;
      for (let f = 0; f < nFeat; f++) {
        const xf = x[f];
        if (xf === 0) continue;
        for (let c = 0; c < nClass; c++) gw[f * nClass + c] += (xf * p[c]) / N;
      }
    });
    for (let k = 0; k < j.w.length; k++) j.w[k] -= cfg.lr * (gw[k] + cfg.l2 * j.w[k]);
    for (let c = 0; c < nClass; c++) j.b[c] -= cfg.lr * gb[c];
  }
  return j;
}

/** The most probable class of each utterance. */
export function judgePredict(j: DigitJudge, codes: Codes[]): number[] {
  return codes.map((c) => {
    const z = logits(j, judgeFeatures(c, j.cfg));
    let arg = 0;
    for (let k = 1; k < z.length; k++) if (z[k] > z[arg]) arg = k;
    return arg;
  });
}

/** Accuracy of the judge on labelled utterances (with the count, for the standard error). */
export function judgeAccuracy(j: DigitJudge, examples: { codes: Codes; label: number }[]): { acc: number; n: number } {
  const pred = judgePredict(j, examples.map((e) => e.codes));
  const ok = pred.filter((p, i) => p === examples[i].label).length;
  return { acc: ok / Math.max(1, examples.length), n: examples.length };
}
