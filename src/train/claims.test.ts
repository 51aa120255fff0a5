import { describe, expect, it } from "vitest";
import { binomialSE, diffSE, differenceTest, meanSE, rate, seedSpread } from "./stats.js";
import { closeRule, defineClaim, directionRule, gate, judge, parseVerdicts, verdictCounts, VERDICTS } from "./claims.js";
import { lmClaims, type LMSummary } from "../lm/index.js";
import { lmPresets } from "../lm/config.js";

describe("statistics helpers, against hand-computed values", () => {
  it("binomial standard error", () => {
    expect(binomialSE(30, 100)).toBeCloseTo(Math.sqrt(0.3 * 0.7 / 100), 12); // 0.045826
    expect(binomialSE(30, 100)).toBeCloseTo(0.0458258, 6);
    expect(binomialSE(0, 50)).toBe(0);
    expect(rate(5, 20)).toEqual({ value: 0.25, se: Math.sqrt(0.25 * 0.75 / 20), n: 20 });
    expect(() => binomialSE(3, 2)).toThrow(/k <= n/);
    expect(() => binomialSE(1, 0)).toThrow();
  });
  it("mean ± SE over seeds, and the seed spread", () => {
    const m = meanSE([1, 2, 3, 4]);
    expect(m.mean).toBe(2.5);
    expect(m.sd).toBeCloseTo(1.2909944, 6); // sqrt(5/3)
    expect(m.se).toBeCloseTo(0.6454972, 6);
    expect(meanSE([7])).toEqual({ mean: 7, sd: 0, se: 0, n: 1 });
    expect(seedSpread([2.31, 2.35, 2.33])).toBeCloseTo(0.04, 12);
    expect(diffSE(0.03, 0.04)).toBeCloseTo(0.05, 12);
  });
  it("a difference counts only beyond both 2 SE and the seed spread", () => {
    expect(differenceTest(0.1, 0.04, 0).significant).toBe(true); // 0.1 > 0.08
    expect(differenceTest(0.1, 0.04, 0.12).significant).toBe(false); // floor wins
    expect(differenceTest(0.1, 0.06, 0.02).significant).toBe(false); // 2 SE wins
    expect(differenceTest(-0.3, 0.1, 0.1).direction).toBe(-1);
    expect(differenceTest(0.05, 0.1).direction).toBe(0);
    expect(differenceTest(0.1, 0.04, 0.05).noise).toBeCloseTo(0.08, 12);
    expect(() => differenceTest(NaN, 0.1)).toThrow();
  });
});

const SPEC = defineClaim({ id: "x-beats-y", paper: "X beats Y", paperValue: "+3 points", metric: "success", arms: ["x", "y"], budget: "equal steps", rule: "beyond 2 SE and the seed spread" });

describe("claims and verdict rules", () => {
  it("a failed or unmeasured gate gives not testable, naming the gate and its value; the rule is not run", () => {
    let ran = false;
    const r = judge(SPEC, { gates: [gate("init OOD success", 0.02, ">=", 0.1)], ours: null, rule: () => ((ran = true), { verdict: "reproduced", why: "" }) });
    expect(r.verdict).toBe("not testable");
    expect(r.why).toContain("init OOD success: 0.0200 (needs >= 0.100)");
    expect(ran).toBe(false);
    expect(gate("g", NaN, ">=", 0).passed).toBe(false);
    expect(gate("g", null, "<=", 1)).toEqual({ name: "g", value: null, op: "<=", threshold: 1, passed: false });
  });
  it("directionRule reaches every outcome", () => {
    const base = { se: 0.02, floor: 0.03, expect: "higher" as const, what: "Δ" };
    expect(directionRule({ ...base, effect: 0.2 }).verdict).toBe("reproduced");
    expect(directionRule({ ...base, effect: 0.2, full: 0.5 }).verdict).toBe("partly");
    expect(directionRule({ ...base, effect: 0.03 }).verdict).toBe("not reproduced");
    expect(directionRule({ ...base, effect: -0.2 }).verdict).toBe("opposite");
    expect(directionRule({ ...base, effect: -0.2, expect: "lower" }).verdict).toBe("reproduced");
  });
  it("closeRule reaches every outcome", () => {
    expect(closeRule({ gap: 0.01, tolerance: 0.02, what: "gap" }).verdict).toBe("reproduced");
    expect(closeRule({ gap: -0.03, tolerance: 0.02, what: "gap" }).verdict).toBe("partly");
    expect(closeRule({ gap: 0.05, tolerance: 0.02, what: "gap" }).verdict).toBe("not reproduced");
  });
  it("the verdicts file schema rejects a verdict outside the closed set and names the field", () => {
    const claim = judge(SPEC, { ours: { value: 1, se: 0.1, seeds: [0, 1], unit: "points" }, floor: 0.2, rule: () => ({ verdict: "partly", why: "because" }) });
    const file = { experiment: "e", preset: "quick", smokeTest: false, createdAt: "2026-01-01", gitCommit: null, claims: [claim] };
    expect(parseVerdicts(file).claims[0].verdict).toBe("partly");
    expect(() => parseVerdicts({ ...file, claims: [{ ...claim, verdict: "reproduced in direction" }] })).toThrow(/claims\.0\.verdict/);
    expect(() => defineClaim({ ...SPEC, id: "Bad Id" })).toThrow();
    expect(verdictCounts([claim, claim])).toEqual({ ...Object.fromEntries(VERDICTS.map((v) => [v, 0])), partly: 2 });
  });
});

describe("the LM's target as a claim reaches each outcome", () => {
  const s = (val: number, bigram: number) => ({ valNatsPerByte: val, bigramValNatsPerByte: bigram, improvementOverBigram: bigram - val }) as LMSummary;
  const cfg = lmPresets.tiny;
  it.each([
    [1.76, 2.45, "reproduced"],
    [2.3, 2.45, "partly"],
    [2.46, 2.45, "not reproduced"],
    [2.6, 2.45, "opposite"],
    [NaN, 2.45, "not testable"],
  ])("val %f vs bigram %f: %s", (val, bigram, verdict) => {
    expect(lmClaims(s(val, bigram), cfg)[0].verdict).toBe(verdict);
  });
});
