/**
 * Stage-0 probes (arXiv 2501.17161's "pretrained model", issue 24's gates): a navigation-only run skips the
 * GeneralPoints probes (no GeneralPoints gate reads them there) and keeps every navigation probe's value, because
 * each probe family draws from its own stream: the same greedy completions, in the same order, as with them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { disposeTree, initEngine } from "../../engine/index.js";
import { initLM } from "../../nn/transformer.js";
import { setup } from "./arms.js";
import { sftVsRlPresets } from "./config.js";
import { stage0Probes } from "./stage0.js";

beforeAll(async () => {
  await initEngine();
});

describe("stage-0 probes", () => {
  it("a navigation-only run skips the GeneralPoints probes and keeps the navigation probes bit for bit", async () => {
    const cfg = { ...sftVsRlPresets.tiny, envs: ["navigation" as const], stage0: { ...sftVsRlPresets.tiny.stage0, probes: 6 } };
    const { tok, model } = setup(cfg);
    const lm = initLM(model, 3);
    const nav = await stage0Probes(lm, model, tok, cfg);
    const both = await stage0Probes(lm, model, tok, { ...cfg, envs: ["general-points", "navigation"] });
    for (const k of ["arithmetic", "rule", "ruleId", "ruleOod", "make24Id", "make24Ood"] as const) {
      expect(nav[k]).toBeUndefined();
      expect(both[k]).toBeGreaterThanOrEqual(0);
    }
    for (const k of ["actionSpace", "compass", "nextActionAbsolute", "nextActionRelative"] as const) expect(nav[k]).toBe(both[k]);
    // The greedy completions: the GeneralPoints families write 3 examples each (6 families), then the navigation ones.
    expect(both.examples.length).toBe(18 + nav.examples.length);
    expect(nav.examples.length).toBe(12);
    expect(both.examples.slice(18)).toEqual(nav.examples);
    const gpOnly = await stage0Probes(lm, model, tok, { ...cfg, envs: ["general-points"] });
    expect(gpOnly.actionSpace).toBeUndefined();
    expect(gpOnly.examples).toEqual(both.examples.slice(0, 18));
    disposeTree(lm);
  }, 60_000);
});
