import { describe, expect, it } from "vitest";
import { Rng } from "../../util/rng.js";
import { judgeAccuracy, judgeFeatures, judgePredict, trainJudge } from "./judge.js";
import type { Codes } from "./sequences.js";

const sizes = [16, 8, 4, 4, 4, 4, 4, 4];
const cfg = { codebookSizes: sizes, layers: 2, segments: 1, steps: 300, lr: 4, l2: 1e-4 };

/** An utterance of class `c`: mostly codes 2c, 2c+1 on layer 1, random elsewhere, a class-free length. */
function utt(c: number, rng: Rng, noise = 0.2): Codes {
  const n = 5 + rng.int(6);
  return Array.from({ length: n }, () => Int32Array.from(sizes.map((K, l) => (l === 0 && rng.next() > noise ? 2 * (c % 8) + rng.int(2) : rng.int(K)))));
}

describe("digit-word judge", () => {
  it("features: per-layer code histograms over frames, plus seconds", () => {
    const x = judgeFeatures([Int32Array.from([3, 1, 0, 0, 0, 0, 0, 0]), Int32Array.from([3, 2, 0, 0, 0, 0, 0, 0])], cfg);
    expect(x.length).toBe(16 + 8 + 1);
    expect(x[3]).toBe(1);
    expect(x[16 + 1]).toBe(0.5);
    expect(x[16 + 2]).toBe(0.5);
    expect(x[24]).toBeCloseTo(2 / 12.5, 12);
  });

  it("features with segments: one histogram block per part of the utterance, in time order", () => {
    const f = (c: number) => Int32Array.from([c, 0, 0, 0, 0, 0, 0, 0]);
    const x = judgeFeatures([f(1), f(1), f(5), f(5)], { ...cfg, layers: 1, segments: 2 });
    expect(x.length).toBe(2 * 16 + 1);
    expect(x[1]).toBe(1);
    expect(x[16 + 5]).toBe(1);
    expect(x[5]).toBe(0);
  });

  it("learns separable classes and scores unseen utterances of them near 100 %", () => {
    const rng = new Rng(1);
    const train = Array.from({ length: 160 }, (_, i) => ({ codes: utt(i % 8, rng), label: i % 8 }));
    const test = Array.from({ length: 80 }, (_, i) => ({ codes: utt(i % 8, rng), label: i % 8 }));
    const j = trainJudge(train, 8, cfg);
    expect(judgeAccuracy(j, test).acc).toBeGreaterThanOrEqual(0.95);
    expect(judgePredict(j, [test[3].codes])).toEqual([3]);
  });

  it("cannot beat chance by much when the codes carry no class", () => {
    const rng = new Rng(2);
    const rand = () => Array.from({ length: 8 }, () => Int32Array.from(sizes.map((K) => rng.int(K))));
    const train = Array.from({ length: 160 }, (_, i) => ({ codes: rand(), label: i % 8 }));
    const test = Array.from({ length: 400 }, (_, i) => ({ codes: rand(), label: i % 8 }));
    expect(judgeAccuracy(trainJudge(train, 8, cfg), test).acc).toBeLessThan(0.25);
  });
});
