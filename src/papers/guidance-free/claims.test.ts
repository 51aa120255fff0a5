/**
 * The guidance-free verdict rules on synthetic summaries: every verdict each rule can give, including
 * "not testable" from each failed gate, "not reproduced" and "opposite".
 */
import { describe, expect, it } from "vitest";
import { parseVerdicts } from "../../train/claims.js";
import { guidanceFreeClaims, GF_CLAIMS } from "./claims.js";
import type { Family, FunctionalAtW, FunctionalSummary, GuidanceFreeSummary, PartKey, PartSummary, SampleRow, TrainArmSummary } from "./summary.js";

const arm = (name: string, steps: number): TrainArmSummary => ({ arm: name, steps, finalLoss: 1, trainSeconds: 1, msPerStep: 1, params: 10 });

function row(family: Family, w: number, o: Partial<SampleRow> = {}): SampleRow {
  const gft = family.startsWith("GFT");
  return { family, trainSeed: 0, w, beta: gft ? 1 / w : null, nfe: gft || w === 1 ? 20 : 40, msPerSample: gft ? 1 : 2, samples: 1600, accuracy: 0.9, confidence: 0.8, precision: 0.9, recall: 0.5, ...o };
}

const WS = [2, 3];

/**
 * The functional test of a family at w ∈ {2, 3}: floor (two CFG models' distance), guidance movement, the
 * fine-tuning start (the CFG model unguided), GFT gaps, and an optional fine-tuning curve [step, gaps per w].
 */
function functional(o: { floor?: number; movement?: Record<number, number>; gap?: Record<number, number>; ftGap?: Record<number, number>; curve?: [number, number[]][]; preSteps?: number }): FunctionalSummary {
  const movement = o.movement ?? { 2: 0.2, 3: 0.4 };
  const gap = o.gap ?? { 2: 0.01, 3: 0.015 };
  const rows: FunctionalAtW[] = WS.map((w) => ({ w, floor: o.floor ?? 0.02, movement: movement[w], start: movement[w], gaps: { "GFT scratch": gap[w], ...(o.ftGap ? { "GFT fine-tuned": o.ftGap[w] } : {}) } }));
  const pre = o.preSteps ?? 1500;
  return { metric: "synthetic", inputs: 512, rows, ...(o.curve ? { finetuneCurve: o.curve.map(([step, gaps]) => ({ step, fraction: step / pre, gaps })) } : {}) };
}

/**
 * A 2-D family: CFG at w ∈ {1, 2, 3} (accuracy 0.80 → 0.99), guidance moving the samples by 0.2 / 0.4; each CFG model
 * of `cfgSeeds` is `floor` away from the other; GFT (scratch and fine-tuned) at `gap[w]` from the CFG pair.
 */
function mixturePart(o: { cfgSeeds?: number[]; floor?: number; gap: Record<number, number>; accBest?: number; ftSteps?: number; fn?: FunctionalSummary }): PartSummary {
  const movement: Record<number, number> = { 1: 0, 2: 0.2, 3: 0.4 };
  const seeds = o.cfgSeeds ?? [0, 1];
  const rows: SampleRow[] = [];
  for (const s of seeds) {
    for (const w of [1, ...WS]) rows.push(row("CFG", w, { trainSeed: s, accuracy: w === 1 ? 0.8 : (o.accBest ?? 0.99), mmdToCFG: seeds.length >= 2 ? (o.floor ?? 0.02) : undefined, mmdCondToCFG: movement[w] }));
  }
  // A second sampling seed of the first model: never a floor.
  for (const w of WS) rows.push(row("CFG (resampled)", w, { mmdToCFG: 1e-4, mmdCondToCFG: movement[w] }));
  for (const w of [1, ...WS]) rows.push(row("GFT scratch", w, { mmdToCFG: w === 1 ? 0.01 : o.gap[w], mmdCondToCFG: movement[w] }));
  const arms: Record<string, TrainArmSummary> = { cfg: arm("mixture-cfg", 1500), gftScratch: arm("mixture-gft-scratch", 1500) };
  if (seeds.length >= 2) arms.cfgSeed2 = arm("mixture-cfg-seed2", 1500);
  if ((o.ftSteps ?? 300) > 0) arms.gftFinetune = arm("mixture-gft-finetune", o.ftSteps ?? 300);
  return { arms, eval: { rows, perClass: 200 }, functional: o.fn ?? functional({ ftGap: { 2: 0.01, 3: 0.01 }, curve: [[0, [0.2, 0.4]], [15, [0.01, 0.01]], [300, [0.01, 0.01]]] }) };
}

/** A digit family: CFG FD per w (seed 1 shifted by `spread`), GFT FD per w, real-vs-real FD 0.8. */
function digitPart(prefix: PartKey, o: { cfgFD?: Record<number, number>; cfgSeeds?: number[]; spread?: number; gftFD: Record<number, number>; fn?: FunctionalSummary }): PartSummary {
  const cfgFD = o.cfgFD ?? { 1: 40, 2: 35, 3: 37 };
  const rows: SampleRow[] = [];
  for (const s of o.cfgSeeds ?? [0, 1]) for (const w of [1, ...WS]) rows.push(row("CFG", w, { trainSeed: s, fd: cfgFD[w] + (s === 0 ? 0 : (o.spread ?? 0.6)) }));
  for (const w of [1, ...WS]) rows.push(row("GFT scratch", w, { fd: w === 1 ? 41 : o.gftFD[w] }));
  const arms: Record<string, TrainArmSummary> = { cfg: arm(`${prefix}-cfg`, 1000), cfgSeed2: arm(`${prefix}-cfg-seed2`, 1000), gftScratch: arm(`${prefix}-gft-scratch`, 1000), gftFinetune: arm(`${prefix}-gft-finetune`, 300) };
  return {
    arms,
    classifier: { ...arm(`${prefix}-classifier`, 300), valAccuracy: 0.9 },
    eval: { rows, perClass: 60, realVsReal: { accuracy: 0.9, confidence: 0.8, precision: 0.9, recall: 0.9, fd: 0.8 } },
    functional: o.fn ?? functional({ ftGap: { 2: 0.01, 3: 0.01 }, curve: [[0, [0.2, 0.4]], [10, [0.01, 0.01]]], preSteps: 1000 }),
  };
}

const judgeOne = (s: GuidanceFreeSummary, id: string) => {
  const c = guidanceFreeClaims(s).find((x) => x.id === id);
  if (!c) throw new Error(`no claim ${id}`);
  return c;
};
const verdictOf = (s: GuidanceFreeSummary, id: string) => judgeOne(s, id).verdict;

describe("guidance-free claims: specs and the verdicts file", () => {
  it("judges every claim, each from the closed set, into a schema-valid verdicts file", () => {
    const s: GuidanceFreeSummary = { seed: 0, mixture: mixturePart({ gap: { 2: 0.01, 3: 0.01 } }), digits: digitPart("digits", { gftFD: { 2: 35.1, 3: 37.1 } }) };
    const claims = guidanceFreeClaims(s);
    expect(claims.map((c) => c.id)).toEqual(Object.keys(GF_CLAIMS));
    expect(() => parseVerdicts({ experiment: "guidance-free", preset: "quick", smokeTest: false, createdAt: "now", gitCommit: null, claims })).not.toThrow();
  });
});

describe("GFT matches CFG, sampling test (2-D, per w against two trained CFG models)", () => {
  it("not testable with one trained CFG model, even when a second sampling seed is far tighter than GFT's gap", () => {
    const c = judgeOne({ seed: 0, mixture: mixturePart({ cfgSeeds: [0], gap: { 2: 0.001, 3: 0.001 } }) }, "match-2d");
    expect(c.verdict).toBe("not testable");
    expect(c.floor).toBeNull();
    expect(c.why).toMatch(/independently trained CFG models.*1 \(needs >= 2\)/);
  });
  it("not testable when CFG's guidance does not beat w = 1 by more than 2 SE (failed benefit gate)", () => {
    const c = judgeOne({ seed: 0, mixture: mixturePart({ gap: { 2: 0.01, 3: 0.01 }, accBest: 0.805 }) }, "match-2d");
    expect(c.verdict).toBe("not testable");
    expect(c.why).toMatch(/guidance benefit/);
  });
  it("not testable when guidance moves CFG less than the trained-CFG floor at every w (within the floor would prove nothing)", () => {
    const c = judgeOne({ seed: 0, mixture: mixturePart({ floor: 0.5, gap: { 2: 0.01, 3: 0.01 } }) }, "match-2d");
    expect(c.verdict).toBe("not testable");
    expect(c.why).toMatch(/moves CFG beyond the trained-CFG floor/);
  });
  it("reproduced when GFT is within the trained-CFG floor at every w", () => {
    const c = judgeOne({ seed: 0, mixture: mixturePart({ gap: { 2: 0.01, 3: 0.015 } }) }, "match-2d");
    expect(c.verdict).toBe("reproduced");
    expect(c.floor).toBe(0.02);
    expect(c.ours?.value).toBeCloseTo(0.015);
  });
  it("partly when GFT matches at some w only (judged per w, not summed)", () => {
    expect(verdictOf({ seed: 0, mixture: mixturePart({ gap: { 2: 0.01, 3: 0.1 } }) }, "match-2d")).toBe("partly");
  });
  it("not reproduced when GFT is beyond the floor at every w but still closer than no guidance", () => {
    expect(verdictOf({ seed: 0, mixture: mixturePart({ gap: { 2: 0.1, 3: 0.2 } }) }, "match-2d")).toBe("not reproduced");
  });
  it("opposite when GFT is farther from CFG@w than the unguided CFG@1, beyond the floor, at every w", () => {
    expect(verdictOf({ seed: 0, mixture: mixturePart({ gap: { 2: 0.5, 3: 0.7 } }) }, "match-2d")).toBe("opposite");
  });
  it("only deciding scales count: a w where guidance moves CFG less than the floor is reported, not judged", () => {
    // floor 0.25: w = 2 (movement 0.2) does not decide, w = 3 (movement 0.4) does.
    const c = judgeOne({ seed: 0, mixture: mixturePart({ floor: 0.25, gap: { 2: 0.3, 3: 0.1 } }) }, "match-2d");
    expect(c.verdict).toBe("reproduced");
    expect(c.why).toMatch(/not deciding/);
  });
  it("not testable when the family did not run", () => {
    expect(verdictOf({ seed: 0 }, "match-2d")).toBe("not testable");
  });
});

describe("GFT matches CFG, sampling test (digit families, FD per w against the CFG seed spread)", () => {
  it("not testable with one trained CFG model", () => {
    expect(verdictOf({ seed: 0, digits: digitPart("digits", { cfgSeeds: [0], gftFD: { 2: 35.1, 3: 37.1 } }) }, "match-digits")).toBe("not testable");
  });
  it("not testable when CFG is best at w = 1", () => {
    const c = judgeOne({ seed: 0, ar: digitPart("ar", { cfgFD: { 1: 2.0, 2: 2.6, 3: 4.7 }, gftFD: { 2: 2.6, 3: 4.7 } }) }, "match-ar");
    expect(c.verdict).toBe("not testable");
    expect(c.gates.find((g) => g.name.includes("guidance benefit"))?.passed).toBe(false);
  });
  it("not testable when the guidance benefit is within the real-vs-real FD, or within the CFG seed spread", () => {
    expect(verdictOf({ seed: 0, digits: digitPart("digits", { cfgFD: { 1: 40, 2: 39.5, 3: 39.8 }, gftFD: { 2: 39.6, 3: 39.9 } }) }, "match-digits")).toBe("not testable");
    expect(verdictOf({ seed: 0, digits: digitPart("digits", { spread: 6, gftFD: { 2: 38, 3: 40 } }) }, "match-digits")).toBe("not testable");
  });
  it("reproduced, partly, not reproduced and opposite by the per-w FD gap", () => {
    const v = (gftFD: Record<number, number>) => verdictOf({ seed: 0, digits: digitPart("digits", { gftFD }) }, "match-digits");
    // CFG FD (mean of two seeds) 35.3 at w = 2 and 37.3 at w = 3, floor 0.6; CFG@1 40.3.
    expect(v({ 2: 35.5, 3: 37.0 })).toBe("reproduced");
    expect(v({ 2: 35.5, 3: 39.0 })).toBe("partly");
    expect(v({ 2: 37.0, 3: 39.0 })).toBe("not reproduced");
    expect(v({ 2: 41.0, 3: 41.0 })).toBe("opposite");
  });
});

describe("GFT computes CFG's guided prediction, functional test (per w against two trained CFG models)", () => {
  const with2d = (fn: FunctionalSummary) => ({ seed: 0, mixture: mixturePart({ gap: { 2: 0.01, 3: 0.01 }, fn }) });
  it("reproduced at 3/4 of the floor (a model like a third CFG seed), partly, not reproduced and opposite", () => {
    expect(verdictOf(with2d(functional({ gap: { 2: 0.015, 3: 0.015 } })), "functional-2d")).toBe("reproduced");
    expect(verdictOf(with2d(functional({ gap: { 2: 0.015, 3: 0.1 } })), "functional-2d")).toBe("partly");
    expect(verdictOf(with2d(functional({ gap: { 2: 0.1, 3: 0.3 } })), "functional-2d")).toBe("not reproduced");
    expect(verdictOf(with2d(functional({ gap: { 2: 0.3, 3: 0.5 } })), "functional-2d")).toBe("opposite");
  });
  it("not testable when guidance moves CFG's ε less than the two CFG models differ", () => {
    const c = judgeOne(with2d(functional({ floor: 0.5, gap: { 2: 0.01, 3: 0.01 } })), "functional-2d");
    expect(c.verdict).toBe("not testable");
    expect(c.why).toMatch(/functional test/);
  });
  it("not testable without the test (family ran without it) and without a guidance benefit", () => {
    const p = mixturePart({ gap: { 2: 0.01, 3: 0.01 } });
    delete p.functional;
    expect(verdictOf({ seed: 0, mixture: p }, "functional-2d")).toBe("not testable");
    expect(verdictOf({ seed: 0, ar: digitPart("ar", { cfgFD: { 1: 2.0, 2: 2.6, 3: 4.7 }, gftFD: { 2: 2.6, 3: 4.7 } }) }, "functional-ar")).toBe("not testable");
  });
  it("the AR per-token KL is judged by the same rule, with its floor in the result", () => {
    const c = judgeOne({ seed: 0, ar: digitPart("ar", { gftFD: { 2: 35, 3: 37 }, fn: functional({ floor: 0.004, movement: { 2: 0.05, 3: 0.1 }, gap: { 2: 0.002, 3: 0.006 } }) }) }, "functional-ar");
    expect(c.verdict).toBe("partly");
    expect(c.floor).toBe(0.004);
    expect(c.ours?.value).toBe(0.006);
  });
});

describe("fine-tuning matches quickly (functional test along the fine-tuning curve)", () => {
  const fin = (o: Parameters<typeof functional>[0], ftSteps = 300) => ({ seed: 0, mixture: mixturePart({ gap: { 2: 0.01, 3: 0.01 }, ftSteps, fn: functional(o) }) });
  it("not testable without a fine-tuned arm", () => {
    const c = judgeOne(fin({}, 0), "finetune-2d");
    expect(c.verdict).toBe("not testable");
    expect(c.why).toMatch(/fine-tuned arm trained/);
  });
  it("not testable with one trained CFG model", () => {
    expect(verdictOf({ seed: 0, mixture: mixturePart({ cfgSeeds: [0], gap: { 2: 0.01, 3: 0.01 } }) }, "finetune-2d")).toBe("not testable");
  });
  it("reproduced when the curve reaches the floor at every w within 10 % of pre-training; partly when it needed more", () => {
    const ft = { 2: 0.01, 3: 0.01 };
    expect(verdictOf(fin({ ftGap: ft, curve: [[0, [0.2, 0.4]], [75, [0.015, 0.012]], [300, [0.01, 0.01]]] }), "finetune-2d")).toBe("reproduced");
    const c = judgeOne(fin({ ftGap: ft, curve: [[0, [0.2, 0.4]], [75, [0.05, 0.1]], [300, [0.01, 0.01]]] }), "finetune-2d");
    expect(c.verdict).toBe("partly");
    expect(c.why).toMatch(/after 300 steps \(20\.0 % of pre-training\).*more than 10 %/);
  });
  it("partly, not reproduced and opposite (farther than its start, the unguided CFG model) by the per-w gap at the end", () => {
    const v = (ftGap: Record<number, number>) => verdictOf(fin({ ftGap, curve: [[0, [0.2, 0.4]], [300, [ftGap[2], ftGap[3]]]] }), "finetune-2d");
    expect(v({ 2: 0.01, 3: 0.1 })).toBe("partly");
    expect(v({ 2: 0.1, 3: 0.1 })).toBe("not reproduced");
    expect(v({ 2: 0.5, 3: 0.7 })).toBe("opposite");
  });
  it("digits: reproduced from the default curve (1 % of pre-training)", () => {
    expect(verdictOf({ seed: 0, digits: digitPart("digits", { gftFD: { 2: 35.5, 3: 37.0 } }) }, "finetune-digits")).toBe("reproduced");
  });
});

describe("half the network evaluations (exact)", () => {
  const withNFE = (gft: number, cfg: number): GuidanceFreeSummary => {
    const p = mixturePart({ gap: { 2: 0.01, 3: 0.01 } });
    p.eval.rows = p.eval.rows.map((r) => (r.w > 1 ? { ...r, nfe: r.family.startsWith("GFT") ? gft : cfg } : r));
    return { seed: 0, mixture: p, digits: digitPart("digits", { gftFD: { 2: 35, 3: 37 } }) };
  };
  it("reproduced at exactly half, partly between half and one, not reproduced at one, opposite above one", () => {
    expect(verdictOf(withNFE(20, 40), "nfe-halved")).toBe("reproduced");
    expect(verdictOf(withNFE(30, 40), "nfe-halved")).toBe("partly");
    expect(verdictOf(withNFE(40, 40), "nfe-halved")).toBe("not reproduced");
    expect(verdictOf(withNFE(60, 40), "nfe-halved")).toBe("opposite");
    const c = judgeOne(withNFE(20, 40), "nfe-halved");
    expect(c.ours).toMatchObject({ value: 0.5, se: null });
  });
  it("not testable when no family sampled at w > 1", () => {
    expect(verdictOf({ seed: 0 }, "nfe-halved")).toBe("not testable");
  });
});
