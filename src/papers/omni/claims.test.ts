import { describe, expect, it } from "vitest";
import { parseVerdicts, type ClaimResult } from "../../train/claims.js";
import { omniPresets } from "./config.js";
import { omniClaims } from "./claims.js";
import { overSeeds, ratioEstimate } from "./estimates.js";
import { jointStage, PAPER_STAGES, stageGroupLr, withoutReplay, type StageSpec } from "./stages.js";
import type { OmniSummary, StageSummary, TokArmSummary } from "./summary.js";

// Seed 0; γ 0.5, the rate compression of the runs these fixtures describe (quick uses 0.1 since route 5 in the chain).
const cfg = { ...omniPresets.quick, omni: { ...omniPresets.quick.omni, lrExponent: 0.5 } };
const U = 20; // held-out utterances
const FRAMES = Array.from({ length: U }, (_, i) => 100 + 10 * (i % 3));

/** The T2 tokenizer the stages read (the claims here do not read it). */
const T2: TokArmSummary = { status: "completed", steps: 300, finalMelLoss: 1, transcriptLoss: 1, reconL1ByLayers: [0.3, 0.2], reconL1PerUtterance: [], usage: [{ used: 1, perplexity: 10 }], bitrate: 575, frameRate: 12.5 };

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

type Over = { judge?: OmniSummary["judge"]; final?: Partial<StageSummary>; s2?: Partial<StageSummary>; noReplay?: Partial<StageSummary> | null; today?: boolean; textLmAcc?: number };

/** A summary whose every gate passes unless `o` says otherwise; `today: true` gives today's staging arms. */
function summary(o: Over = {}): OmniSummary {
  const s1 = Object.fromEntries(PAPER_STAGES.map((st, i) => [st.name, stage(st, i === PAPER_STAGES.length - 1 ? o.final : {})]));
  return {
    data: { utterances: 436, speechSeconds: 600, evalUtterances: U },
    textLm: { status: "completed", steps: 600, params: 1e5, finalLoss: 1, textNll: 1, textQaAcc: o.textLmAcc ?? 0.7, textQaN: 128 },
    tokenizers: { T2 },
    tokenizerBaseline: { meanFrameL1: 0.5, evalFrames: FRAMES },
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
    expect(claims.map((c) => c.id)).toEqual(["staging-keeps-text", "speech-out-below-in"]);
    expect(parseVerdicts({ experiment: "omni", preset: "quick", smokeTest: false, createdAt: "2026-01-01", gitCommit: null, claims }).claims).toHaveLength(2);
  });

  it("staged training with replay keeps text, judged against two controls", () => {
    const id = "staging-keeps-text";
    expect(verdictOf(summary(), id).verdict).toBe("reproduced");
    expect(verdictOf(summary({ noReplay: { textQaAcc: 0.74 } }), id).verdict).toBe("partly");
    expect(verdictOf(summary({ s2: { textQaAcc: 0.74 }, noReplay: { textQaAcc: 0.76 } }), id).verdict).toBe("not reproduced");
    expect(verdictOf(summary({ s2: { textQaAcc: 0.95 } }), id).verdict).toBe("opposite");
    expect(verdictOf(summary({ textLmAcc: 0.12 }), id).verdict).toBe("not testable");
    expect(verdictOf(summary(), id).why).toContain("rests on one seed");
    expect(verdictOf(summary(), id).floor).toBeNull();
  });

  it("reads further seeds of S2: the control's seed spread becomes the floor and can turn a 2-SE win into no win", () => {
    const id = "staging-keeps-text";
    const extra = (acc: number) => [{ seed: 1, s2: stage(MATCHED_JOINT, { textQaAcc: acc }) }];
    // S1 0.75 vs S2 0.60 (SE about 0.058 on 128 questions each): a win beyond 2 SE on one seed.
    const one = summary({ s2: { textQaAcc: 0.6 } });
    expect(verdictOf(one, id).verdict).toBe("reproduced");
    // A second S2 seed at 0.62: spread 0.02, S1 still ahead of the mean 0.61 beyond max(2 SE, floor).
    const close = verdictOf({ ...one, controlSeeds: extra(0.62) }, id);
    expect(close.verdict).toBe("reproduced");
    expect(close.ours?.seeds).toEqual([0, 1]);
    expect(close.floor).toBeCloseTo(0.02, 12);
    expect(close.ours?.unit).toContain("mean of 2 seeds");
    // A second S2 seed at 0.30: S1's margin over the mean 0.45 is 0.30, equal to the floor (spread 0.30), so not beyond it.
    const wide = verdictOf({ ...one, controlSeeds: extra(0.3) }, id);
    expect(wide.floor).toBeCloseTo(0.3, 12);
    expect(wide.why).toContain("S1 minus the joint stage S2 (mean of 2 seeds)");
    expect(wide.verdict).toBe("partly"); // S1 without replay (0.30) is still beaten beyond 2 SE; it has no floor
    expect(wide.why).toContain("The control without a seed floor rests on one seed.");
    // A second S2 seed far ahead: S1 minus S2's mean 0.775 is -0.025, within the floor 0.35; S1 still beats S1 without replay.
    expect(verdictOf({ ...one, controlSeeds: extra(0.95) }, id).verdict).toBe("partly");
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
    // An earlier quick run: s→t 12.5 % on 64 questions (chance 10 %), ASR not measured.
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
