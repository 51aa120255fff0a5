/**
 * The semantic probe of the tokenizer ablation: a small recogniser trained on the audio codes
 * (from training voices) and scored by character error rate on held-out voices and sentences.
 * It is a decoder-only ASR model (the same shape as the omni model's speech input): the frame
 * embedding is Σ_{i<k} E_i(code_i) over the first k RVQ layers, followed by `<transcribe>` and
 * the words; greedy decoding; CER = Levenshtein distance over characters / reference length.
 */
import { np, crossEntropy, type Array } from "../../engine/index.js";
import { KeyGen, normalInit } from "../../nn/init.js";
import { initLM, lmForward, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { embed } from "../../nn/embedding.js";

export type ProbeParams = { tables: Array[]; lm: LMParams };

export function initProbe(sizes: number[], layers: number, lmCfg: LMConfig, seed: number): ProbeParams {
  const kg = new KeyGen(seed, `probe-k${layers}`);
  return { tables: sizes.slice(0, layers).map((K, i) => normalInit(kg, `embed.${i}`, [K, lmCfg.dModel], 0.02)), lm: initLM(lmCfg, seed + 17) };
}

/** Inputs [B, T12 + L, D]: summed code embeddings of the first k layers, then the text tokens. */
function probeEmbeds(p: ProbeParams, codes: Array, textIn: Array): Array {
  const [B, T12, nL] = codes.shape;
  const parts = np.split(codes, nL, 2);
  let a: Array | null = null;
  p.tables.forEach((t, i) => {
    const e = embed({ table: t }, parts[i].reshape([B, T12]));
    a = a ? a.add(e) : e;
  });
  for (let i = p.tables.length; i < nL; i++) parts[i].dispose();
  const text = embed({ table: p.lm.wte.table.ref }, textIn);
  return np.concatenate([a!, text], 1);
}

/** codes int32 [B, T12, 8]; textIn/textTgt int32 [B, L]; textMask [B, L]. */
export function probeLoss(p: ProbeParams, cfg: LMConfig, codes: Array, textIn: Array, textTgt: Array, textMask: Array): Array {
  const T12 = codes.shape[1];
  const L = textIn.shape[1];
  const { logits } = lmForward(p.lm, cfg, null, { inputEmbeds: probeEmbeds(p, codes, textIn) });
  return crossEntropy(logits.slice([], [T12, T12 + L], []), textTgt, textMask);
}

/** Logits of the text part [B, L, V] (for greedy decoding by the host). */
export function probeLogits(p: ProbeParams, cfg: LMConfig, codes: Array, textIn: Array): Array {
  const T12 = codes.shape[1];
  const L = textIn.shape[1];
  const { logits } = lmForward(p.lm, cfg, null, { inputEmbeds: probeEmbeds(p, codes, textIn) });
  return logits.slice([], [T12, T12 + L], []);
}

/** Levenshtein distance between two strings (characters) or two word lists. */
export function editDistance<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[b.length];
}

/** Character error rate of hypotheses against references (total edits / total reference characters). */
export function characterErrorRate(hyps: string[], refs: string[]): number {
  let e = 0;
  let n = 0;
  hyps.forEach((h, i) => {
    e += editDistance(h, refs[i]);
    n += refs[i].length;
  });
  return e / Math.max(1, n);
}
