import { beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine } from "../../engine/index.js";
import { createRun, openRun } from "../../train/run-dir.js";
import { quietContext, readVerdicts, runExperiment } from "../../train/experiment.js";
import { validateConfig } from "../../train/config.js";
import { experiments } from "../../registry.js";
import { overTokenizedExperiment, overTokenizedPresets, overTokenizedSchema, fitLine, hashPurity, type OverTokenizedSummary } from "./index.js";

beforeAll(async () => {
  await initEngine();
});

describe("over-tokenized experiment", () => {
  it("is registered and its presets validate", () => {
    expect(experiments["over-tokenized"]).toBe(overTokenizedExperiment);
    for (const p of ["tiny", "quick", "full"] as const) expect(() => validateConfig(overTokenizedSchema, overTokenizedPresets[p])).not.toThrow();
    const bad = structuredClone(overTokenizedPresets.tiny) as Record<string, unknown>;
    (bad as { tableUpdate: string }).tableUpdate = "lazy";
    expect(() => validateConfig(overTokenizedSchema, bad)).toThrow(/tableUpdate/);
  });

  it("fits a line exactly through collinear points", () => {
    const f = fitLine([3, 4, 5], [2.0, 1.9, 1.8]);
    expect(f.slope).toBeCloseTo(-0.1, 10);
    expect(f.intercept).toBeCloseTo(2.3, 10);
    expect(f.r2).toBeCloseTo(1, 10);
    expect(f.slopeSE).toBeCloseTo(0, 10);
    // Residuals (0.05, -0.1, 0.05) about the slope -0.1 line: SSE 0.015 over 1 degree of freedom, Sxx 2.
    const g = fitLine([3, 4, 5], [2.05, 1.8, 1.85]);
    expect(g.slope).toBeCloseTo(-0.1, 10);
    expect(g.slopeSE).toBeCloseTo(Math.sqrt(0.015 / 1 / 2), 10);
    expect(Number.isNaN(fitLine([3, 4], [2, 1]).slopeSE)).toBe(true);
  });

  it("measures hash purity: rows hit and distinct n-grams per hit row", () => {
    // V = 5, one 2-gram table of m = 7 rows over tokens [1,2,3,4]: keys 1, 7, 13, 19 -> rows 1, 0, 6, 5.
    const h = hashPurity(Int32Array.from([1, 2, 3, 4]), 5, 4, { n: 2, k: 1, m: 7, requireCoprime: true });
    expect(h.rowsHitFraction).toBeCloseTo(4 / 7, 12);
    expect(h.ngramsPerHitRow).toBe(1);
    // [1, 3, 1]: keys 1, 8, 16 -> rows 1, 1, 2 (two distinct 2-grams collide in row 1).
    const c = hashPurity(Int32Array.from([1, 3, 1]), 5, 4, { n: 2, k: 1, m: 7, requireCoprime: true });
    expect(c.rowsHitFraction).toBeCloseTo(2 / 7, 12);
    expect(c.ngramsPerHitRow).toBe(1.5);
  });

  it("runs the tiny preset end to end through the runner: arms, fit, verdicts.json, report, results.md; losses fall", async () => {
    const config = validateConfig(overTokenizedSchema, overTokenizedPresets.tiny);
    const root = mkdtempSync(join(tmpdir(), "tf-ot-"));
    const run = createRun({ experiment: "over-tokenized", seed: config.seed, config, root, extraMeta: { preset: "tiny" } });
    const out = await runExperiment(overTokenizedExperiment, config, quietContext(run));
    expect(out.status).toBe("completed");
    const s = out.summary as OverTokenizedSummary;
    expect(s.cfgArms.map((a) => a.arm)).toEqual(["baseline", "oe-3gram", "od-3gram", "small-baseline", "small-oe-3gram", "small-od-3gram"]);
    expect(s.cfgArms.map((a) => a.odHead)).toEqual([null, null, "joint", null, null, "joint"]);
    // The second size trains the same arms with its own (smaller) model on the same sentences.
    expect(s.cfgArms[3].lmParams).toBeLessThan(s.cfgArms[0].lmParams);
    expect(s.cfgArms[4].lmParams).toBe(s.cfgArms[3].lmParams);
    expect(s.textArms.map((a) => a.arm)).toEqual(["baseline", "oe-m31", "oe-m61", "ot-61"]);
    expect(s.textArms.map((a) => a.role)).toEqual(["baseline", "oe", "oe", "ot"]);
    for (const a of [...s.cfgArms, ...s.textArms]) {
      expect(a.status).toBe("completed");
      expect(Number.isFinite(a.valLoss)).toBe(true);
      // The held-out loss is the mean of the per-crop losses (B·evalBatches crops).
      expect(a.valCropLosses.length).toBe(2);
      expect(a.valCropLosses.reduce((x, y) => x + y, 0) / 2).toBeCloseTo(a.valLoss, 10);
      const rows = openRun(join(run.dir, "arms", `${a.study}-${a.arm}`)).metrics<Record<string, number>>();
      expect(rows.length).toBe(6);
      // The joint OD arm trains on the joint CE; its next-token CE (the marginal's) is reported, not trained.
      const key = a.odHead === "joint" ? "odJointLoss" : "nextTokenLoss";
      expect(rows[5][key], `${a.study}-${a.arm}`).toBeLessThan(rows[0][key]);
    }
    // Table parameters: one 2-gram table of m rows, w = D/1 = 16.
    expect(s.textArms[1].oeTableParams).toBe(31 * 16);
    expect(s.textArms[1].lmParams).toBe(s.textArms[0].lmParams);
    // The sparse path checkpoints its host tables beside the loop's checkpoint.
    expect(existsSync(join(run.dir, "arms", "text-oe-m31", "checkpoints", "tables.safetensors"))).toBe(true);
    expect(s.fit?.points).toBe(2);
    expect(s.hashPurity.map((h) => h.m)).toEqual([31, 61]);
    for (const h of s.hashPurity) expect(h.rowsHitFraction).toBeGreaterThan(0.9);
    expect(s.throughput?.method).toBe("interleaved");
    expect(s.throughput?.oe.map((o) => o.m)).toEqual([61]);
    expect(s.textBaselines?.uniform).toBeCloseTo(Math.log(256), 12);
    expect(s.cfgBaselines?.uniform).toBeCloseTo(Math.log(3), 12);
    expect(s.cfgBaselines?.entropyFloor?.perToken).toBeGreaterThan(0);
    expect(s.cfgBaselines?.bigram).toBeGreaterThan(0);
    // verdicts.json: schema-valid (readVerdicts parses it), a smoke test, every claim judged.
    const v = readVerdicts(run.dir);
    expect(v?.smokeTest).toBe(true);
    expect(v?.claims.map((c) => c.id)).toEqual(["oe-text", "oe-log-linear-m", "oe-throughput", "ot-text", "oe-cfg3f", "od-cfg3f-small", "od-cfg3f-large"]);
    // Two swept m give no slope SE; the two tiny sizes are less than 10x apart for the large-model OD claim.
    for (const id of ["oe-log-linear-m", "od-cfg3f-large"]) expect(v?.claims.find((c) => c.id === id)?.verdict, id).toBe("not testable");
    for (const f of ["summary.json", "verdicts.json", "report.html", "report.md", "results.md"]) expect(existsSync(join(run.dir, f)), f).toBe(true);
    const results = readFileSync(join(run.dir, "results.md"), "utf8");
    expect(results).toContain("smoke test");
    expect(results).toContain("0.0256");
    expect(results).toContain("oe-m61");
    // The arms are resumable: a second call of `run` keeps the finished arms, not retrains them.
    const again = await overTokenizedExperiment.run(config, quietContext(run, { resume: true }));
    expect(again.textArms.map((a) => a.valLoss)).toEqual(s.textArms.map((a) => a.valLoss));
  });
});
