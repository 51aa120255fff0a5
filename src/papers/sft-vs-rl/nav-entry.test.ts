import { describe, expect, it } from "vitest";
import { validateConfig } from "../../train/config.js";
import { experiments } from "../../registry.js";
import { sftVsRlPresets, sftVsRlSchema } from "./config.js";
import { sftVsRlNavPresets } from "./nav-entry.js";

describe("sft-vs-rl-nav suite entry", () => {
  it("is registered and trains navigation only, with issue 24's quick recipe on sft-vs-rl's quick model", () => {
    expect(experiments["sft-vs-rl-nav"].presets).toBe(sftVsRlNavPresets);
    for (const p of ["tiny", "quick", "full"] as const) {
      const c = validateConfig(sftVsRlSchema, sftVsRlNavPresets[p]);
      expect(c.envs).toEqual(["navigation"]);
    }
    const q = validateConfig(sftVsRlSchema, sftVsRlNavPresets.quick);
    // Two seeds at quick (a seed floor for the claims), one after another (side by side measured slower for navigation).
    expect(q.taskSeeds).toBe(2);
    expect(q.seedJobs).toBe(1);
    expect(q.navigation.routeLegs).toEqual([2, 2]);
    expect(q.navigation.corpusShare).toBe(0.6);
    expect(q.navigation.sftInit.steps).toBe(100);
    expect(q.stage0.steps).toBe(800);
    // 12 navigation updates evaluated at 6 and 12, whatever GeneralPoints' quick preset evaluates at.
    expect(q.navigation.ppo.updates).toBe(12);
    expect(q.eval.every).toBe(6);
    expect(q.model).toEqual(sftVsRlPresets.quick.model);
    expect(q.ppo).toEqual(sftVsRlPresets.quick.ppo);
    // sft-vs-rl's own quick preset stays GeneralPoints only
    expect(sftVsRlPresets.quick.envs).toEqual(["general-points"]);
  });
});
