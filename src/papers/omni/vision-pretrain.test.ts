import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine } from "../../engine/index.js";
import { initLM, type LMConfig } from "../../nn/transformer.js";
import { flattenNamed, loadRunParams } from "../../train/checkpoint.js";
import { quietContext } from "../../train/experiment.js";
import { createRun } from "../../train/run-dir.js";
import { omniPresets, omniSchema, type OmniExperimentConfig } from "./config.js";
import { loadDigits, loadPretrainDigits, pretrainDigitRanges } from "./data.js";
import { initOmni, type OmniConfig } from "./model.js";
import { classificationAccuracy, initVisionClassifier, trainVisionPretrain, VISION_HELD_OUT_PER_DIGIT, withPretrainedVision } from "./vision-pretrain.js";
import { WordTokenizer } from "./world.js";

const tok = new WordTokenizer();
const lmCfg: LMConfig = { vocabSize: tok.vocabSize, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 48, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 2, tiedHead: true, bias: false };
const ocfg: OmniConfig = { lm: lmCfg, codebookSizes: [8, 8, 4, 4, 4, 4, 4, 4], depthLayers: 1, depthHeads: 2, depthFfnRatio: 2, vision: { image: 28, patch: 7, width: 8, layers: 1, heads: 2 }, audioLossWeight: 1 };

const leaves = async (t: unknown) => {
  const out: Record<string, number[]> = {};
  for (const [k, a] of Object.entries(flattenNamed(t))) out[k] = Array.from((await a.ref.data()) as Float32Array);
  return out;
};

/** The tiny preset with the tiny tower, pretraining `steps` steps. */
const tinyCfg = (steps: number, seed = 0): OmniExperimentConfig => ({
  ...omniPresets.tiny,
  seed,
  omni: { ...omniPresets.tiny.omni, vision: { patch: 7, width: 8, layers: 1, heads: 2 }, visionPretrain: { steps, lr: 2e-2, batchSize: 16 } },
});

beforeAll(async () => {
  await initEngine();
});

describe("vision pretraining: data", () => {
  it("computes accuracy as the share of rows whose argmax (first index on ties) is the label", () => {
    // rows: argmax 1 (right), 0 (right), 2 (label 1: wrong), tie 0/1 → 0 (right)
    const logits = Float32Array.from([1, 2, 0, 3, 0, 0, 0, 0, 5, 1, 1, 0]);
    expect(classificationAccuracy(logits, [1, 0, 1, 0], 3)).toBe(0.75);
    expect(classificationAccuracy(logits, [0, 1, 2, 1], 3)).toBe(0.25);
    expect(classificationAccuracy(new Float32Array(0), [], 3)).toBeNaN();
  });

  it("keeps the pretraining's digits out of the omni evaluation digits, and its held-out digits out of its training digits", () => {
    const r = pretrainDigitRanges(1000, 300, 30, 50);
    expect(r).toEqual({ train: [0, 920], heldOut: [920, 970] });
    // the omni evaluation tail is [970, 1000): after both ranges
    expect(() => pretrainDigitRanges(400, 340, 30, 50)).toThrow(/digits.trainPerDigit \+ digits.testPerDigit: 340\+30/);
    const omni = loadDigits(4, 5);
    const pre = loadPretrainDigits(4, 5, 3);
    expect(pre.heldOut).toHaveLength(30);
    // a fingerprint of each image (label and a position-weighted pixel sum)
    const key = (d: { image: Float32Array; label: number }) => `${d.label}:${d.image.reduce((a, x, i) => a + x * ((i % 97) + 1), 0).toFixed(4)}`;
    const test = new Set(omni.test.map(key));
    const held = new Set(pre.heldOut.map(key));
    expect(pre.train.some((d) => test.has(key(d)) || held.has(key(d)))).toBe(false);
    expect(pre.heldOut.some((d) => test.has(key(d)))).toBe(false);
    // the omni training digits are training digits of the pretraining too
    const train = new Set(pre.train.map(key));
    expect(omni.train.every((d) => train.has(key(d)))).toBe(true);
  });

  it("validates omni.visionPretrain, naming the field", () => {
    const bad = (vp: unknown) => omniSchema.safeParse({ ...omniPresets.quick, omni: { ...omniPresets.quick.omni, visionPretrain: vp } });
    expect(bad({ steps: 0, lr: 3e-3, batchSize: 8 }).success).toBe(true);
    for (const vp of [{ steps: -1, lr: 3e-3, batchSize: 8 }, { steps: 10, lr: 0, batchSize: 8 }, { steps: 10, lr: 3e-3, batchSize: 0 }, { steps: 10, lr: 3e-3 }]) {
      const r = bad(vp);
      expect(r.success).toBe(false);
      expect(r.error!.issues[0].path.slice(0, 2)).toEqual(["omni", "visionPretrain"]);
    }
  });
});

describe("vision pretraining: training and the handoff", () => {
  it("with steps 0 the stages start from today's random tower (golden values of the tower drawn before the pretraining existed)", async () => {
    const p = initOmni(ocfg, initLM(lmCfg, 0), 3);
    const same = withPretrainedVision(p, null, ocfg.vision);
    expect(same).toBe(p);
    const v = await leaves({ vision: same.vision });
    // drawn by `initOmni` at the commit before the vision pretraining (seed 3, width 8)
    expect(v["vision.patchEmbed.w"].slice(0, 3)).toEqual([0.3557880222797394, -0.18602398037910461, -0.03111337125301361]);
    expect(v["vision.pos"].slice(0, 3)).toEqual([-0.023496409878134727, 0.016118573024868965, -0.016970854252576828]);
    // the pretraining starts from the same tower
    const c = await leaves({ vision: initVisionClassifier(ocfg.vision, 3).vision });
    expect(c).toEqual(v);
  });

  it("trains: the loss falls in a tiny run, and the stages' tower is the pretrained one (weights equal after the handoff)", async () => {
    const root = mkdtempSync(join(tmpdir(), "omni-vision-"));
    const cfg = tinyCfg(80);
    const run = createRun({ experiment: "omni-vision", seed: 0, config: cfg, root });
    const s = await trainVisionPretrain(cfg, run, quietContext(run), "vision-pretrain");
    expect(s.status).toBe("completed");
    expect(s.steps).toBe(80);
    expect(s.heldOutN).toBe(10 * VISION_HELD_OUT_PER_DIGIT);
    expect(s.heldOutAcc).toBeGreaterThan(0.2); // chance 0.1
    const rows = readFileSync(run.path("metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { loss?: number }).filter((r) => typeof r.loss === "number");
    const mean = (xs: { loss?: number }[]) => xs.reduce((a, r) => a + r.loss!, 0) / xs.length;
    expect(mean(rows.slice(-8))).toBeLessThan(mean(rows.slice(0, 8)) - 0.2);

    const v = { ...cfg.omni.vision, image: 28 };
    const trained = await leaves({ vision: loadRunParams(run.dir, initVisionClassifier(v, 0)).vision });
    const random = await leaves({ vision: initVisionClassifier(v, 0).vision });
    expect(trained["vision.patchEmbed.w"]).not.toEqual(random["vision.patchEmbed.w"]);
    const handed = withPretrainedVision(initOmni({ ...ocfg, vision: v }, initLM(lmCfg, 0), 0), run.dir, v);
    expect(await leaves({ vision: handed.vision })).toEqual(trained);
  }, 120_000);
});
