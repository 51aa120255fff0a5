/**
 * The two studies' data (cfg3f sentences, bytes of the corpus), training crops, the fixed held-out
 * crops every arm is scored on, and the trivial baselines (uniform, unigram) of a held-out split.
 */
import { loadCorpus, splitTrainVal } from "../../data/corpus.js";
import { Rng } from "../../util/rng.js";
import { CFG_BOS, cfgStream, sampleCfg3f } from "./cfg3f.js";
import type { OverTokenizedExperimentConfig } from "./config.js";
import type { TrivialBaselines } from "./summary.js";

/**
 * Data for one study: token streams, and optionally the positions crops may start at (cfg3f: every
 * sentence's BOS, so a crop sees each of its sentences from the start, as the paper's model does).
 */
export type StudyData = { train: Int32Array; val: Int32Array; trainStarts?: Int32Array; valStarts?: Int32Array };

/** Random crops [B, T+H] -> x and targets y_1..y_H (int32 [B·T] each); starts drawn from `starts` when given. */
export function cropBatch(tokens: Int32Array, B: number, T: number, H: number, rng: Rng, starts?: Int32Array): { x: Int32Array; ys: Int32Array[] } {
  if (tokens.length < T + H + 1) throw new Error(`data: need at least ${T + H + 1} tokens for context ${T}, have ${tokens.length}`);
  const x = new Int32Array(B * T);
  const ys = Array.from({ length: H }, () => new Int32Array(B * T));
  const last = tokens.length - T - H; // exclusive bound on a start
  const usable = starts ? upperBound(starts, last - 1) : 0;
  if (starts && usable < 1) throw new Error(`data: no crop start leaves ${T + H} tokens`);
  for (let b = 0; b < B; b++) {
    const s = starts ? starts[rng.int(usable)] : rng.int(last);
    x.set(tokens.subarray(s, s + T), b * T);
    ys.forEach((y, j) => y.set(tokens.subarray(s + j + 1, s + j + 1 + T), b * T));
  }
  return { x, ys };
}

/** Number of entries of the sorted array `a` that are <= v. */
function upperBound(a: Int32Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Positions of `token` in a stream (sorted). */
export function positionsOf(tokens: Int32Array, token: number): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === token) out.push(i);
  return Int32Array.from(out);
}

/** Evenly spaced evaluation crops (the same every time); with `starts`, each snapped back to the nearest allowed start. */
export function evalCrops(tokens: Int32Array, B: number, T: number, n: number, starts?: Int32Array): { x: Int32Array; y: Int32Array }[] {
  const span = tokens.length - T - 1;
  if (span < 1) throw new Error(`data: validation split has ${tokens.length} tokens; need more than ${T + 1}`);
  const out: { x: Int32Array; y: Int32Array }[] = [];
  for (let i = 0; i < n; i++) {
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const even = Math.floor(((i * B + b) * span) / (n * B));
      const k = starts ? upperBound(starts, even) : 0;
      const s = starts && k > 0 ? starts[k - 1] : even;
      x.set(tokens.subarray(s, s + T), b * T);
      y.set(tokens.subarray(s + 1, s + T + 1), b * T);
    }
    out.push({ x, y });
  }
  return out;
}

/**
 * Trivial baselines of a study: `uniform` = ln(symbols); unigram and bigram = cross-entropy of the
 * held-out targets (every token after the first) under add-one unigram frequencies, and add-one
 * previous-token frequencies, of the training split.
 */
export function trivialBaselines(data: StudyData, vocabSize: number, symbols: number): TrivialBaselines {
  const counts = new Float64Array(vocabSize).fill(1);
  for (const t of data.train) counts[t]++;
  const total = counts.reduce((a, b) => a + b, 0);
  let nll = 0;
  for (let i = 1; i < data.val.length; i++) nll -= Math.log(counts[data.val[i]] / total);
  const pair = new Float64Array(vocabSize * vocabSize).fill(1);
  const row = new Float64Array(vocabSize).fill(vocabSize);
  for (let i = 1; i < data.train.length; i++) {
    pair[data.train[i - 1] * vocabSize + data.train[i]]++;
    row[data.train[i - 1]]++;
  }
  let nll2 = 0;
  for (let i = 1; i < data.val.length; i++) nll2 -= Math.log(pair[data.val[i - 1] * vocabSize + data.val[i]] / row[data.val[i - 1]]);
  const n = Math.max(1, data.val.length - 1);
  return { uniform: Math.log(symbols), unigram: nll / n, bigram: nll2 / n };
}

/** The cfg3f data: sentences sampled once from the seed, split by sentence. */
export function cfgData(c: OverTokenizedExperimentConfig) {
  const rng = Rng.stream(c.seed, "cfg3f");
  const sentences = Array.from({ length: c.cfg.sentences }, () => sampleCfg3f(rng, c.cfg.root));
  const nVal = Math.max(1, Math.round(sentences.length * c.cfg.valFraction));
  const val = sentences.slice(0, nVal);
  const train = sentences.slice(nVal);
  const meanLen = sentences.reduce((s, x) => s + x.length, 0) / sentences.length;
  const t = cfgStream(train);
  const v = cfgStream(val);
  const data: StudyData = c.cfg.alignCrops ? { train: t, val: v, trainStarts: positionsOf(t, CFG_BOS), valStarts: positionsOf(v, CFG_BOS) } : { train: t, val: v };
  return { data, valSentences: val, meanLen };
}

/** The text data: bytes of the corpus, split in contiguous blocks by the seed. */
export function textData(c: OverTokenizedExperimentConfig): StudyData & { corpus: string } {
  const corpus = loadCorpus({ name: c.text.corpus, file: c.text.file ?? undefined });
  const bytes = Int32Array.from(new TextEncoder().encode(corpus.text));
  const split = splitTrainVal(bytes, { valFraction: c.text.valFraction, seed: c.seed });
  return { train: split.train, val: split.val, corpus: corpus.name };
}
