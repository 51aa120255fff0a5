import { describe, expect, it } from "vitest";
import { omniPresets } from "./config.js";
import { sharedPrefix } from "./experiment.js";
import { jointStage, normaliseMix, PAPER_STAGES, stageGroupLr, unionMix, withoutReplay } from "./stages.js";

const steps = omniPresets.quick.omni.stageSteps;
const total = PAPER_STAGES.reduce((a, s) => a + steps[s.name], 0);

describe("staging controls (issue 17)", () => {
  it("S2's mix is the union of S1's data: every kind, each weighted by the steps S1 spends on it", () => {
    const s2 = jointStage(PAPER_STAGES, steps);
    const kinds = new Set(PAPER_STAGES.flatMap((s) => Object.keys(s.mix)));
    expect(new Set(Object.keys(s2.mix))).toEqual(kinds);
    for (const k of kinds) {
      const expected = PAPER_STAGES.reduce((a, s) => a + (normaliseMix(s.mix)[k as keyof typeof s.mix] ?? 0) * steps[s.name], 0) / total;
      expect(s2.mix[k as keyof typeof s2.mix]).toBeCloseTo(expected, 12);
    }
    expect(Object.values(s2.mix).reduce((a, b) => a + b!, 0)).toBeCloseTo(1, 12);
    expect(s2.mix.text).toBeGreaterThan(0.1); // text replay is in the joint mix
    expect(unionMix(PAPER_STAGES, steps)).toEqual(s2.mix);
  });

  it("S2 trains every group at the largest rate S1 gives it (never above S1's LM rate)", () => {
    const g = stageGroupLr(jointStage(PAPER_STAGES, steps), 3e-3, 0.5);
    for (const group of ["lm", "vision", "projector", "audioEmbed", "audioHead"]) {
      const s1Max = Math.max(...PAPER_STAGES.map((s) => stageGroupLr(s, 3e-3, 0.5)[group] ?? 0));
      expect(g[group]).toBeCloseTo(s1Max, 12);
    }
  });

  it("S1 without replay: the same stages, rates and steps, pure text removed and the rest renormalised", () => {
    const nr = PAPER_STAGES.map(withoutReplay);
    nr.forEach((s, i) => {
      expect(s.name).toBe(PAPER_STAGES[i].name);
      expect(s.paperLr).toEqual(PAPER_STAGES[i].paperLr);
      expect("text" in s.mix).toBe(false);
      const rest = Object.keys(PAPER_STAGES[i].mix).filter((k) => k !== "text");
      expect(Object.keys(s.mix).sort()).toEqual(rest.sort());
      expect(Object.values(s.mix).reduce((a, b) => a + b!, 0)).toBeCloseTo(1, 12);
    });
    // image-1 has no text: both schedules share that arm, and only that one
    expect(sharedPrefix(PAPER_STAGES, nr)).toBe(1);
  });

  it("speech->speech data sits in the trainable mixes, and SFT 4.2 moves the audio embeddings slowly", () => {
    const byName = Object.fromEntries(PAPER_STAGES.map((s) => [s.name, s]));
    expect(byName.omni.mix["sqa-ss"]).toBeGreaterThan(0);
    expect(byName["sft-1"].mix["sqa-ss"]).toBeGreaterThan(0);
    expect(byName.omni.paperLr.lm).toBeGreaterThan(0);
    expect(byName["sft-1"].paperLr.lm).toBeGreaterThan(0);
    // Every stage after audio stage II that trains the LM keeps transcripts in its mix, so ASR is not erased.
    for (const name of ["audio-2", "omni", "sft-1"]) expect(byName[name].mix.asr).toBeGreaterThan(0);
    const sft2 = byName["sft-2"].paperLr;
    expect(sft2.audioEmbed! * 10).toBeCloseTo(sft2.audioHead!, 15);
  });
});
