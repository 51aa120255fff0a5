import { describe, expect, it } from "vitest";
import { parseVerdicts, type ClaimResult } from "../../train/claims.js";
import { omniPresets } from "./config.js";
import { omniClaims } from "./claims.js";
import { overSeeds, ratioEstimate } from "./estimates.js";
import { jointStage, PAPER_STAGES, stageGroupLr, withoutReplay, type StageSpec } from "./stages.js";
import type { OmniSummary, ProbeSummary, StageSummary, TokArmSummary } from "./summary.js";

const cfg = omniPresets.quick; // probes on 1 and 8 layers, seed 0
const U = 20; // held-out utterances
const FRAMES = Array.from({ length: U }, (_, i) => 100 + 10 * (i % 3));
const noise = (i: number, k: number, amp = 0.01) => amp * Math.sin(7 * i + 3 * k + 1);

/** A tokenizer whose held-out L1 with k layers is `l1[k-1]` (± per-utterance noise). */
function tok(l1: number[]): TokArmSummary {
  const per = l1.map((v, k) => FRAMES.map((_, i) => v + noise(i, k)));
  const pooled = per.map((row) => row.reduce((a, x, i) => a + x * FRAMES[i], 0) / FRAMES.reduce((a, b) => a + b, 0));
  return { status: "completed", steps: 300, finalMelLoss: 1, transcriptLoss: 1, reconL1ByLayers: pooled, reconL1PerUtterance: per, usage: l1.map(() => ({ used: 1, perplexity: 10 })), bitrate: 575, frameRate: 12.5 };
}
const falling = (from: number, to: number) => Array.from({ length: 8 }, (_, k) => from + ((to - from) * k) / 7);

/** A probe with CER ≈ `cer` on 20 utterances of 25 characters (edits vary by about ±2 per utterance, differently per probe). */
function probe(cer: number, layers: number): ProbeSummary {
  const edits = Array.from({ length: U }, (_, i) => Math.max(0, Math.round(25 * cer + 2 * Math.sin(5 * i + 100 * cer + layers))));
  const refChars = edits.map(() => 25);
  return { status: "completed", steps: 200, layers, finalLoss: 1, cer: edits.reduce((a, b) => a + b, 0) / (25 * U), evalUtterances: U, edits, refChars, examples: [] };
}

function stage(spec: StageSpec, o: Partial<StageSummary> = {}): StageSummary {
  const groupLr = stageGroupLr(spec, cfg.omni.baseLr, cfg.omni.lrExponent);
  return {
    status: "completed", steps: 100, stage: spec.name, paperStage: spec.paperName, trained: Object.keys(groupLr), groupLr, mix: spec.mix, finalLoss: 1, droppedAudioRows: 0,
    textNll: 1, textQaAcc: 0.75, textQaN: 128, captionAcc: 0.2, omniAcc: 0.1, s2tAcc: 0.6, s2tAccHeldOutQ: 0.5, s2sTextAcc: 0.3, s2sTextAccHeldOutQ: 0.3, s2sAudioAcc: 0.2,
    nSpokenQuestions: 200, asrWordAcc: 0.9, nAsrUtterances: 100, captionSamples: [], ...o,
  };
}

/** The data-matched joint control the experiment trains (S1's union mix, S1's largest rates). */
const MATCHED_JOINT: StageSpec = jointStage(PAPER_STAGES, cfg.omni.stageSteps);
/** The joint stage before issue 17: no text data and a larger LM rate than any S1 stage. */
const OLD_JOINT: StageSpec = {
  name: "joint",
  paperName: "(ablation) one joint stage, no replay",
  paperLr: { lm: 1e-4, vision: 1e-4, projector: 1e-4, audioEmbed: 1e-4, audioHead: 1e-4 },
  mix: { caption: 1, asr: 1, tts: 1, "sqa-st": 1, "sqa-ss": 1, omni: 1 },
};

type Over = { sanity?: { trueNll: number; shuffledNll: number; n: number } | null; judge?: OmniSummary["judge"]; T1?: number[]; T2?: number[]; cer?: Record<string, number>; final?: Partial<StageSummary>; s2?: Partial<StageSummary>; noReplay?: Partial<StageSummary> | null; today?: boolean; textLmAcc?: number };

/** A summary whose every gate passes unless `o` says otherwise; `today: true` gives today's staging arms. */
function summary(o: Over = {}): OmniSummary {
  const cer = { "probe-T1-k1": 0.5, "probe-T2-k1": 0.3, "probe-T1-k8": 0.5, "probe-T2-k8": 0.3, ...o.cer };
  const s1 = Object.fromEntries(PAPER_STAGES.map((st, i) => [st.name, stage(st, i === PAPER_STAGES.length - 1 ? o.final : {})]));
  return {
    data: { utterances: 436, speechSeconds: 600, evalUtterances: U },
    textLm: { status: "completed", steps: 600, params: 1e5, finalLoss: 1, textNll: 1, textQaAcc: o.textLmAcc ?? 0.7, textQaN: 128 },
    tokenizers: { T1: tok(o.T1 ?? falling(0.3, 0.2)), T2: { ...tok(o.T2 ?? falling(0.31, 0.21)), ...("sanity" in o ? (o.sanity ? { transcriptSanity: o.sanity } : {}) : { transcriptSanity: { trueNll: 1.2, shuffledNll: 3.5, n: 96 } }) } },
    tokenizerBaseline: { meanFrameL1: 0.5, evalFrames: FRAMES },
    probes: Object.fromEntries(Object.entries(cer).map(([k, v]) => [k, probe(v, Number(k.split("-k")[1]))])),
    probeBaseline: { constantText: "the cat", constantCer: 0.7 },
    judge: "judge" in o ? o.judge : { layers: 2, trainAcc: 1, trainN: 120, heldOutAcc: 0.975, heldOutN: 80 },
    s1,
    s2: o.today ? stage(OLD_JOINT, { textQaAcc: 0, ...o.s2 }) : stage(MATCHED_JOINT, { textQaAcc: 0.2, ...o.s2 }),
    ...(o.today || o.noReplay === null ? {} : { s1NoReplay: stage(withoutReplay(PAPER_STAGES[6]), { textQaAcc: 0.3, ...o.noReplay }) }),
    paramGroups: [],
    samples: { audio: [], generated: [], digits: null },
  };
}

const verdictOf = (s: OmniSummary, id: string, c = cfg): ClaimResult => omniClaims(s, c).find((x) => x.id === id)!;

describe("estimates", () => {
  it("ratioEstimate: pooled ratio and its delta-method SE, by hand", () => {
    // x = [1, 3], n = [2, 2]: R = 1; residuals -1, +1; se = sqrt(2/1 · 2) / 4 = 0.5
    expect(ratioEstimate([1, 3], [2, 2])).toEqual({ value: 1, se: 0.5 });
    expect(ratioEstimate([2, 2, 2], [4, 4, 4]).se).toBe(0);
  });
  it("overSeeds: one seed keeps its SE and has no floor; several use the mean, the SE over seeds and the control's spread", () => {
    expect(overSeeds([{ seed: 0, value: 0.2, se: 0.03 }], [0.5])).toEqual({ value: 0.2, se: 0.03, floor: null, seeds: [0] });
    const c = overSeeds([{ seed: 0, value: 0.2, se: 0.01 }, { seed: 1, value: 0.4, se: 0.01 }], [0.5, 0.6]);
    expect(c.value).toBeCloseTo(0.3, 12);
    expect(c.se).toBeCloseTo(0.1, 12); // sd 0.1414 / sqrt 2
    expect(c.floor).toBeCloseTo(0.1, 12);
    expect(c.seeds).toEqual([0, 1]);
  });
});

describe("omni claims: every verdict each rule can give", () => {
  it("the claims of a synthetic summary form a schema-valid verdicts file", () => {
    const claims = omniClaims(summary(), cfg);
    expect(claims.map((c) => c.id)).toEqual(["rvq-layers-refine", "transcript-loss-semantics", "semantics-in-first-layers", "staging-keeps-text", "speech-out-below-in"]);
    expect(parseVerdicts({ experiment: "omni", preset: "quick", smokeTest: false, createdAt: "2026-01-01", gitCommit: null, claims }).claims).toHaveLength(5);
  });

  it("RVQ layers refine the reconstruction", () => {
    const id = "rvq-layers-refine";
    expect(verdictOf(summary(), id).verdict).toBe("reproduced");
    const bump = falling(0.3, 0.2).map((v, k) => (k === 4 ? v + 0.05 : v));
    expect(verdictOf(summary({ T2: bump }), id).verdict).toBe("partly");
    expect(verdictOf(summary({ T2: bump }), id).why).toContain("T2 rises");
    expect(verdictOf(summary({ T2: falling(0.301, 0.3) }), id).verdict).toBe("not reproduced");
    expect(verdictOf(summary({ T1: falling(0.2, 0.3) }), id).verdict).toBe("opposite");
    const untrained = verdictOf(summary({ T1: falling(0.5, 0.48) }), id);
    expect(untrained.verdict).toBe("not testable");
    expect(untrained.why).toMatch(/mean-frame baseline: 0\.9\d+ \(needs <= 0\.900\)/);
    const old = summary();
    delete (old.tokenizers.T1 as Partial<TokArmSummary>).reconL1PerUtterance; // an arm trained before per-utterance scores
    expect(verdictOf(old, id).verdict).toBe("not testable");
    expect(verdictOf(old, id).ours).toBeNull();
    expect(verdictOf(summary(), id).floor).toBeNull();
    expect(verdictOf(summary(), id).why).toContain("rests on one seed");
  });

  it("the transcript loss (T2) lowers the probe CER at a small reconstruction cost", () => {
    const id = "transcript-loss-semantics";
    expect(verdictOf(summary(), id).verdict).toBe("reproduced");
    expect(verdictOf(summary({ T2: falling(0.45, 0.35) }), id).verdict).toBe("partly"); // cost 0.15 > 1/4 of T1's margin 0.3
    expect(verdictOf(summary({ cer: { "probe-T2-k8": 0.49 } }), id).verdict).toBe("not reproduced");
    expect(verdictOf(summary({ cer: { "probe-T2-k8": 0.6 } }), id).verdict).toBe("opposite");
    const deaf = verdictOf(summary({ cer: { "probe-T1-k8": 0.68, "probe-T2-k8": 0.66 } }), id);
    expect(deaf.verdict).toBe("not testable");
    expect(deaf.why).toContain("constant-transcript CER");
  });

  it("reads several tokenizer seeds: the control's seed spread can turn a 2-SE effect into no effect", () => {
    const id = "transcript-loss-semantics";
    const s = summary({ cer: { "probe-T2-k8": 0.38 } });
    expect(verdictOf(s, id).verdict).toBe("reproduced");
    const other = summary({ cer: { "probe-T1-k8": 0.3, "probe-T2-k8": 0.25 } });
    const multi = { ...s, tokenizerSeeds: [{ seed: 1, tokenizers: other.tokenizers, probes: other.probes }] };
    const r = verdictOf(multi, id);
    expect(r.ours?.seeds).toEqual([0, 1]);
    expect(r.floor).toBeCloseTo(0.2, 1); // the spread of T1's CER between the seeds
    expect(r.verdict).toBe("not reproduced");
  });

  it("the tokenizer semantics claims need the frozen LM to read the codes (shuffled prefixes cost >= 1 nat per token)", () => {
    for (const id of ["transcript-loss-semantics", "semantics-in-first-layers"]) {
      const weak = verdictOf(summary({ sanity: { trueNll: 2.9, shuffledNll: 3.4, n: 96 } }), id);
      expect(weak.verdict).toBe("not testable");
      expect(weak.why).toContain("frozen-LM sanity (T2): transcript NLL per token, shuffled minus true codes: 0.500 (needs >= 1)");
      expect(verdictOf(summary({ sanity: null }), id).verdict).toBe("not testable");
    }
    expect(verdictOf(summary({ sanity: null }), "rvq-layers-refine").verdict).toBe("reproduced");
  });

  it("the words sit in T2's first layer(s)", () => {
    const id = "semantics-in-first-layers";
    expect(verdictOf(summary(), id).verdict).toBe("reproduced");
    expect(verdictOf(summary({ cer: { "probe-T2-k1": 0.5 } }), id).verdict).toBe("not reproduced");
    expect(verdictOf(summary({ cer: { "probe-T2-k1": 0.62 } }), id).verdict).toBe("opposite");
    const onlyAll = verdictOf(summary(), id, { ...cfg, probe: { ...cfg.probe, layers: [8] } });
    expect(onlyAll.verdict).toBe("not testable");
    expect(onlyAll.why).toContain("fewest RVQ layers probed");
  });

  it("staged training with replay keeps text, judged against two controls", () => {
    const id = "staging-keeps-text";
    expect(verdictOf(summary(), id).verdict).toBe("reproduced");
    expect(verdictOf(summary({ noReplay: { textQaAcc: 0.74 } }), id).verdict).toBe("partly");
    expect(verdictOf(summary({ s2: { textQaAcc: 0.74 }, noReplay: { textQaAcc: 0.76 } }), id).verdict).toBe("not reproduced");
    expect(verdictOf(summary({ s2: { textQaAcc: 0.95 } }), id).verdict).toBe("opposite");
    expect(verdictOf(summary({ textLmAcc: 0.12 }), id).verdict).toBe("not testable");
  });

  it("today's staging arms cannot test the claim: S2 has no text replay and a larger LR, and S1-without-replay is not trained", () => {
    // The README's quick run: text LM 68.8 %, S1 76.6 %, S2 0.0 %: a win by construction, so not testable.
    const r = verdictOf(summary({ today: true, final: { textQaAcc: 0.766 }, textLmAcc: 0.688 }), "staging-keeps-text");
    expect(r.verdict).toBe("not testable");
    expect(r.why).toContain("S1 data kinds missing from S2's mix (text replay): 1");
    expect(r.why).toContain("S1's largest LM learning rate: 3.162");
    expect(r.why).toContain("S1-without-replay control trained: 0");
    expect(verdictOf(summary({ noReplay: null }), "staging-keeps-text").verdict).toBe("not testable");
  });

  it("speech out scores below speech in, once ASR and s→t are well above chance", () => {
    const id = "speech-out-below-in";
    expect(verdictOf(summary(), id).verdict).toBe("reproduced");
    expect(verdictOf(summary({ final: { s2sTextAcc: 0.58 } }), id).verdict).toBe("not reproduced");
    expect(verdictOf(summary({ final: { s2sTextAcc: 0.9 } }), id).verdict).toBe("opposite");
    // The README's quick run: s→t 12.5 % on 64 questions (chance 10 %), ASR not measured.
    const chance = verdictOf(summary({ final: { s2tAcc: 0.125, s2sTextAcc: 0.109, nSpokenQuestions: 64, asrWordAcc: NaN } }), id);
    expect(chance.verdict).toBe("not testable");
    expect(chance.why).toContain("S1 ASR word accuracy, held-out voices: not measured");
    expect(chance.why).toContain("s→t accuracy, held-out voices (chance 0.1): 0.125 (needs >= 0.400)");
    expect(chance.why).toContain("Tried so far:");
    expect(verdictOf(summary({ final: { asrWordAcc: 0.7 } }), id).verdict).toBe("not testable");
  });

  it("reads the spoken answers' judge score only when the judge is right on >= 95 % of held-out voices' digit words", () => {
    const id = "speech-out-below-in";
    const good = verdictOf(summary({ final: { s2sAudioAcc: 0.42 } }), id).why;
    expect(good).toContain("classified right 42.0 %");
    expect(good).toContain("is 97.5 % (its ceiling");
    const weak = verdictOf(summary({ judge: { layers: 2, trainAcc: 1, trainN: 120, heldOutAcc: 0.8, heldOutN: 80 } }), id).why;
    expect(weak).toContain("below the 95.0 % it needs, so the score is not read");
    expect(verdictOf(summary({ judge: undefined }), id).why).toContain("not measured (not read)");
  });
});
