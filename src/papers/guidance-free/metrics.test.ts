import { describe, expect, it } from "vitest";
import { Rng } from "../../util/rng.js";
import { frechetDistance, frechetFromStats, meanCov, mmd2, precisionRecall, sqrtPSD, symmetricEigen } from "./metrics.js";
import { classLogDensity, classPosterior, dequantize, downsample, quantize, ringMixture, sampleGrid, tiltedGrid, loadDigits } from "./data.js";

const gauss = (n: number, d: number, mu: number[], sd: number[], seed: number) => {
  const r = new Rng(seed);
  return Float32Array.from({ length: n * d }, (_, i) => mu[i % d] + sd[i % d] * r.normal());
};

describe("metrics", () => {
  it("MMD² matches the U-statistic written out by hand on three points", () => {
    const a = Float32Array.from([0, 0, 1, 0]);
    const b = Float32Array.from([0, 1, 2, 2]);
    const k = (d2: number) => Math.exp(-d2 / 2);
    const want = k(1) + k(5) - (k(1) + k(8) + k(2) + k(5)) / 2; // kaa + kbb − 2·mean(kab)
    expect(mmd2(a, b, 2, [1])).toBeCloseTo(want, 10);
    const x = gauss(300, 2, [0, 0], [1, 1], 1);
    const y = gauss(300, 2, [0, 0], [1, 1], 2);
    const z = gauss(300, 2, [1, 0], [1, 1], 3);
    expect(Math.abs(mmd2(x, y, 2, [0.5, 1]))).toBeLessThan(0.01);
    expect(mmd2(x, z, 2, [0.5, 1])).toBeGreaterThan(0.05);
  });

  it("Jacobi eigen-decomposition reconstructs the matrix; sqrtPSD squares back", () => {
    const n = 5;
    const r = new Rng(4);
    const m = Float64Array.from({ length: n * n }, () => r.normal());
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) A[i * n + j] += m[i * n + k] * m[j * n + k];
    const { values, vectors } = symmetricEigen(A, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i * n + k] * values[k] * vectors[j * n + k];
      expect(s).toBeCloseTo(A[i * n + j], 8);
    }
    const S = sqrtPSD(A, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += S[i * n + k] * S[k * n + j];
      expect(s).toBeCloseTo(A[i * n + j], 6);
    }
  });

  it("Fréchet distance: closed form for diagonal Gaussians, zero for identical statistics", () => {
    const m1 = Float64Array.from([0, 1, 2]);
    const m2 = Float64Array.from([1, 1, 0]);
    const s1 = [1, 2, 0.5];
    const s2 = [2, 2, 1.5];
    const diag = (s: number[]) => {
      const c = new Float64Array(9);
      s.forEach((v, i) => (c[i * 3 + i] = v * v));
      return c;
    };
    const want = 1 + 0 + 4 + s1.reduce((acc, v, i) => acc + (v - s2[i]) ** 2, 0);
    expect(frechetFromStats(m1, diag(s1), m2, diag(s2), 3)).toBeCloseTo(want, 8);
    const x = gauss(500, 4, [0, 1, 2, 3], [1, 2, 1, 0.5], 7);
    const { mean, cov } = meanCov(x, 4);
    expect(Math.abs(frechetFromStats(mean, cov, mean, cov, 4))).toBeLessThan(1e-8);
    expect(frechetDistance(x, gauss(500, 4, [0, 1, 2, 3], [1, 2, 1, 0.5], 8), 4)).toBeLessThan(0.2);
    expect(frechetDistance(x, gauss(500, 4, [2, 1, 2, 3], [1, 2, 1, 0.5], 9), 4)).toBeGreaterThan(3);
  });

  it("k-NN precision/recall: 1 for the same set, 0 for a far-away set, recall drops when modes are missing", () => {
    const x = gauss(200, 2, [0, 0], [1, 1], 1);
    expect(precisionRecall(x, x, 2, 3)).toEqual({ precision: 1, recall: 1 });
    const far = gauss(200, 2, [50, 50], [1, 1], 2);
    expect(precisionRecall(x, far, 2, 3)).toEqual({ precision: 0, recall: 0 });
    const half = Float32Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? -Math.abs(x[i]) : x[i])); // only the left half-plane
    const pr = precisionRecall(x, half, 2, 3);
    expect(pr.precision).toBeGreaterThan(0.9);
    expect(pr.recall).toBeLessThan(0.8);
  });
});

describe("mixture data", () => {
  const mix = ringMixture({ classes: 4, componentsPerClass: 3, radius: 2, spread: 0.3, std: 0.25 });
  it("class densities integrate to 1 and the posterior is normalised", () => {
    const g = 200;
    const h = 8 / g;
    let s = 0;
    for (let i = 0; i < g; i++) for (let j = 0; j < g; j++) s += Math.exp(classLogDensity(mix, -4 + (i + 0.5) * h, -4 + (j + 0.5) * h, 1)) * h * h;
    expect(s).toBeCloseTo(1, 3);
    const post = classPosterior(mix, 1.2, 0.4);
    expect(post.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(post.indexOf(Math.max(...post))).toBe(0); // class 0 sits at angle 0
  });

  it("the tilted grid at w = 1 is p(x|c); larger w moves mass away from the neighbouring classes", () => {
    const grid = { lo: -3.5, hi: 3.5, n: 60 };
    const p1 = tiltedGrid(mix, 0, 1, grid);
    const p3 = tiltedGrid(mix, 0, 3, grid);
    expect(p1.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    const h = 7 / 60;
    const cell = (x: number, y: number) => Math.floor((y + 3.5) / h) * 60 + Math.floor((x + 3.5) / h);
    // Probability of the half of class 0 facing class 1 (y > 0) vs the ring point at angle 0.
    const toward = (p: Float64Array) => p[cell(2 * Math.cos(0.6), 2 * Math.sin(0.6))] / p[cell(2, 0)]; // towards class 1 vs class 0's centre
    expect(toward(p3)).toBeLessThan(toward(p1));
    const pts = sampleGrid(p3, grid, 500, new Rng(1));
    let hit = 0;
    for (let i = 0; i < 500; i++) if (classPosterior(mix, pts[2 * i], pts[2 * i + 1]).indexOf(Math.max(...classPosterior(mix, pts[2 * i], pts[2 * i + 1]))) === 0) hit++;
    expect(hit / 500).toBeGreaterThan(0.9);
  });
});

describe("digit data", () => {
  it("pooling averages blocks (2×2 for 14, 2-pixel crop + 3×3 for 8)", () => {
    const im = Float32Array.from({ length: 784 }, (_, i) => (i % 28) + 100 * Math.floor(i / 28));
    const d14 = downsample(im, 14);
    expect(d14[0]).toBeCloseTo((0 + 1 + 100 + 101) / 4, 5);
    expect(d14[14 + 3]).toBeCloseTo(6.5 + 100 * 2.5, 4);
    const d8 = downsample(im, 8);
    expect(d8[0]).toBeCloseTo(3 + 100 * 3, 4); // rows/cols 2..4
    expect(() => downsample(im, 40)).toThrow(/digits.side/);
  });

  it("quantize/dequantize round-trip to level centres", () => {
    const q = quantize(Float32Array.from([0, 0.24, 0.25, 0.99, 1]), 4);
    expect(Array.from(q)).toEqual([0, 0, 1, 3, 3]);
    expect(Array.from(dequantize(q, 4))).toEqual([0.125, 0.125, 0.375, 0.875, 0.875]);
  });

  it("loads the mnist package's digits, split per class deterministically", () => {
    const a = loadDigits({ side: 14, classes: [3, 7], valFraction: 0.1, seed: 5 });
    const b = loadDigits({ side: 14, classes: [3, 7], valFraction: 0.1, seed: 5 });
    expect(a.train.images.length).toBe(a.train.labels.length * 196);
    expect(a.val.labels.length).toBeGreaterThan(150);
    expect(new Set(a.train.labels)).toEqual(new Set([0, 1]));
    expect(a.train.images.reduce((m, v) => Math.max(m, v), -Infinity)).toBeLessThanOrEqual(1);
    expect(a.train.images.reduce((m, v) => Math.min(m, v), Infinity)).toBeGreaterThanOrEqual(0);
    expect(Array.from(a.val.images.subarray(0, 196))).toEqual(Array.from(b.val.images.subarray(0, 196)));
    expect(() => loadDigits({ side: 14, classes: [3, 12], valFraction: 0.1, seed: 5 })).toThrow(/digits.classes/);
  });
});
