import { describe, expect, it } from "vitest";
import { parseVerdicts, type ClaimResult } from "../../train/claims.js";
import { Rng } from "../../util/rng.js";
import { tokStudyClaims, MIN_EVAL_UTTERANCES } from "./tokenizer-study-claims.js";
import { tokStudyPresets } from "./tokenizer-study-config.js";
import { applyNuisance, readBackSequence } from "./tokenizer-study.js";
import type { TokStudySummary, TokWithProbes } from "./tokenizer-study-summary.js";
import type { ProbeSummary, TokArmSummary } from "./summary.js";

const U = MIN_EVAL_UTTERANCES;
const FRAMES = Array.from({ length: U }, (_, i) => 100 + 10 * (i % 3));
const noise = (i: number, k: number, amp = 0.01) => amp * Math.sin(7 * i + 3 * k + 1);
const falling = (from: number, to: number) => Array.from({ length: 8 }, (_, k) => from + ((to - from) * k) / 7);

function tok(l1: number[], sanity?: { trueNll: number; shuffledNll: number }): TokArmSummary {
  const per = l1.map((v, k) => FRAMES.map((_, i) => v + noise(i, k)));
  const pooled = per.map((row) => row.reduce((a, x, i) => a + x * FRAMES[i], 0) / FRAMES.reduce((a, b) => a + b, 0));
  return { status: "completed", steps: 300, finalMelLoss: 1, transcriptLoss: 1, reconL1ByLayers: pooled, reconL1PerUtterance: per, usage: [], bitrate: 575, frameRate: 12.5, ...(sanity ? { transcriptSanity: { ...sanity, n: U } } : {}) };
}

/** A probe with CER ≈ `cer` (edits vary by about ±2 per utterance, differently per probe and seed). */
function probe(cer: number, layers: number, seed: number): ProbeSummary {
  const edits = Array.from({ length: U }, (_, i) => Math.max(0, Math.round(25 * cer + 2 * Math.sin(5 * i + 100 * cer + layers + seed))));
  return { status: "completed", steps: 200, layers, finalLoss: 1, cer: edits.reduce((a, b) => a + b, 0) / (25 * U), evalUtterances: U, edits, refChars: edits.map(() => 25), examples: [] };
}

type Over = { cer1?: Record<number, number>; cer2?: Record<number, number>; T1?: number[]; T2?: number[]; gap?: number; seeds?: number; jitter?: number };

/** Every gate passes unless `o` says otherwise. cer1/cer2: CER of T1/T2 probes by layer count. */
function summary(o: Over = {}): TokStudySummary {
  const cer1 = { 1: 0.6, 2: 0.5, 8: 0.4, ...o.cer1 };
  const cer2 = { 1: 0.4, 2: 0.3, 8: 0.2, ...o.cer2 };
  const arm = (l1: number[], cer: Record<number, number>, seed: number, sanity?: { trueNll: number; shuffledNll: number }): TokWithProbes => ({
    tokenizer: tok(l1, sanity),
    probes: Object.fromEntries(Object.entries(cer).map(([k, v]) => [`k${k}`, probe(v + (o.jitter ?? 0.002) * seed, Number(k), seed)])),
  });
  const seeds = Array.from({ length: o.seeds ?? 3 }, (_, i) => i);
  const gap = o.gap ?? 2;
  return {
    data: { utterances: 2000, speechSeconds: 2600, evalUtterances: 330 },
    nuisance: { speed: [0.9, 1.1], gainDb: [-6, 6], snrDb: [15, 30], seconds: 2600 },
    readerLm: { status: "completed", steps: 800, params: 1e5, finalLoss: 1, readBack: 0.5, readBackRepeats: 4, readBackSanity: { trueNll: 0.1, shuffledNll: 3, n: 64 } },
    tokenizerBaseline: { meanFrameL1: 0.5, evalFrames: FRAMES },
    probeBaseline: { constantText: "the cat", constantCer: 0.7 },
    probeLayers: [1, 2, 8],
    runs: seeds.map((seed) => ({ seed, weight: 1, T1: arm(o.T1 ?? falling(0.3, 0.2), cer1, seed), T2: arm(o.T2 ?? falling(0.31, 0.21), cer2, seed, { trueNll: 0.5, shuffledNll: 0.5 + gap }) })),
    weights: [{ weight: 3, runs: [{ seed: 0, ...arm(falling(0.32, 0.22), cer2, 0, { trueNll: 0.4, shuffledNll: 3 }) }] }],
  };
}

const verdicts = (s: TokStudySummary): Record<string, ClaimResult> => Object.fromEntries(tokStudyClaims(s, tokStudyPresets.quick).map((c) => [c.id, c]));

describe("omni-tokenizer claims", () => {
  it("all reproduced when T2 beats T1 at every layer count, cheaply, with every gate passed; schema-valid", () => {
    const v = verdicts(summary());
    expect(v["rvq-layers-refine"].verdict).toBe("reproduced");
    expect(v["transcript-loss-semantics"].verdict).toBe("reproduced");
    expect(v["semantics-in-first-layers"].verdict).toBe("reproduced");
    expect(v["transcript-loss-semantics"].ours?.seeds).toEqual([0, 1, 2]);
    expect(v["transcript-loss-semantics"].floor).not.toBeNull();
    expect(v["transcript-loss-semantics"].why).toMatch(/weight 3/);
    expect(() => parseVerdicts({ experiment: "omni-tokenizer", preset: "quick", smokeTest: false, createdAt: "2026-01-01", gitCommit: null, claims: Object.values(v) })).not.toThrow();
  });

  it("the frozen-LM sanity gate: below 1 nat per word, the semantic claims are not testable and name it", () => {
    const v = verdicts(summary({ gap: 0.0016 }));
    for (const id of ["transcript-loss-semantics", "semantics-in-first-layers"]) {
      expect(v[id].verdict).toBe("not testable");
      expect(v[id].why).toMatch(/frozen-LM sanity/);
    }
    expect(v["rvq-layers-refine"].verdict).toBe("reproduced");
  });

  it("fewer than 200 scored utterances: not testable", () => {
    const s = summary();
    for (const r of s.runs) for (const a of [r.T1, r.T2]) for (const p of Object.values(a.probes)) p.edits = p.edits.slice(0, 50);
    expect(verdicts(s)["transcript-loss-semantics"].verdict).toBe("not testable");
  });

  it("probes that do not read words: not testable", () => {
    expect(verdicts(summary({ cer1: { 8: 0.68 }, cer2: { 8: 0.66 } }))["transcript-loss-semantics"].verdict).toBe("not testable");
  });

  it("semantics: partly when T2's reconstruction cost is large, not reproduced within the noise, opposite when T2 is worse", () => {
    expect(verdicts(summary({ T2: falling(0.45, 0.3) }))["transcript-loss-semantics"].verdict).toBe("partly");
    expect(verdicts(summary({ cer2: { 8: 0.4 } }))["transcript-loss-semantics"].verdict).toBe("not reproduced");
    expect(verdicts(summary({ cer2: { 8: 0.55 } }))["transcript-loss-semantics"].verdict).toBe("opposite");
  });

  it("first layers: partly when only some layer counts favour T2, not reproduced when none, opposite when T2 is worse", () => {
    expect(verdicts(summary({ cer2: { 2: 0.5 } }))["semantics-in-first-layers"].verdict).toBe("partly");
    expect(verdicts(summary({ cer2: { 1: 0.6, 2: 0.5 } }))["semantics-in-first-layers"].verdict).toBe("not reproduced");
    expect(verdicts(summary({ cer2: { 1: 0.75, 2: 0.5 } }))["semantics-in-first-layers"].verdict).toBe("opposite");
  });

  it("a large seed spread of T1's CER is the floor: a small difference is then not reproduced", () => {
    const v = verdicts(summary({ cer2: { 8: 0.36 }, jitter: 0.1 }));
    expect(v["transcript-loss-semantics"].verdict).toBe("not reproduced");
  });

  it("rvq: partly when a layer raises L1, not reproduced when flat, opposite when rising", () => {
    const bumpy = falling(0.3, 0.2);
    bumpy[4] = bumpy[3] + 0.02;
    expect(verdicts(summary({ T1: bumpy }))["rvq-layers-refine"].verdict).toBe("partly");
    expect(verdicts(summary({ T1: Array(8).fill(0.25) }))["rvq-layers-refine"].verdict).toBe("not reproduced");
    expect(verdicts(summary({ T1: falling(0.2, 0.3) }))["rvq-layers-refine"].verdict).toBe("opposite");
  });

  it("one seed: verdicts still come, with no floor", () => {
    const v = verdicts(summary({ seeds: 1 }));
    expect(v["transcript-loss-semantics"].verdict).toBe("reproduced");
    expect(v["transcript-loss-semantics"].floor).toBeNull();
  });
});

describe("omni-tokenizer data", () => {
  it("nuisance: seeded, within its ranges, resampling changes the length", () => {
    const x = Float32Array.from({ length: 1600 }, (_, i) => Math.sin(i / 5));
    const n = tokStudyPresets.quick.study.nuisance;
    const a = applyNuisance(x, Rng.stream(1, "n"), n);
    const b = applyNuisance(x, Rng.stream(1, "n"), n);
    expect(Array.from(a.samples)).toEqual(Array.from(b.samples));
    expect(a.speed).toBeGreaterThanOrEqual(n.speed[0]);
    expect(a.speed).toBeLessThanOrEqual(n.speed[1]);
    expect(a.snrDb).toBeGreaterThanOrEqual(15);
    expect(a.samples.length).toBe(Math.floor(1600 / a.speed));
  });

  it("read-back sequences: a P-slot prefix holding the words in order, then <transcribe> and the words", () => {
    const ids = { pad: 5, transcribe: 11, eos: 2 };
    const words = [20, 21, 22, 23, 24, 25];
    for (let s = 0; s < 20; s++) {
      const r = readBackSequence(words, 12, ids, Rng.stream(s, "rb"));
      expect(r.ids.length).toBe(12 + 1 + words.length);
      const prefix = r.ids.slice(0, 12).filter((x) => x !== ids.pad);
      expect([...new Set(prefix)]).toEqual(words);
      expect(r.ids.slice(12)).toEqual([11, ...words]);
      expect(r.tgt.slice(12)).toEqual([...words, 2]);
      expect(r.tgt.slice(0, 12).every((t) => t === -1)).toBe(true);
    }
  });
});
