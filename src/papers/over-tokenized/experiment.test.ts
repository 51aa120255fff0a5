import { beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine } from "../../engine/index.js";
import { createRun, openRun } from "../../train/run-dir.js";
import { quietContext } from "../../train/experiment.js";
import { validateConfig } from "../../train/config.js";
import { experiments } from "../../registry.js";
import { overTokenizedExperiment, overTokenizedPresets, overTokenizedSchema, fitLine, type OverTokenizedSummary } from "./index.js";

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
  });

  it("runs the tiny preset end to end: arms, fit, verdicts, report, results.md; losses fall", async () => {
    const config = validateConfig(overTokenizedSchema, overTokenizedPresets.tiny);
    const root = mkdtempSync(join(tmpdir(), "tf-ot-"));
    const run = createRun({ experiment: "over-tokenized", seed: config.seed, config, root });
    const s = (await overTokenizedExperiment.run(config, quietContext(run))) as OverTokenizedSummary;
    expect(s.cfgArms.map((a) => a.arm)).toEqual(["baseline", "oe-3gram"]);
    expect(s.textArms.map((a) => a.arm)).toEqual(["baseline", "oe-m1021", "oe-m4093", "ot-1021"]);
    for (const a of [...s.cfgArms, ...s.textArms]) {
      expect(a.status).toBe("completed");
      expect(Number.isFinite(a.valLoss)).toBe(true);
      const rows = openRun(join(run.dir, "arms", `${a.study}-${a.arm}`)).metrics<{ nextTokenLoss: number }>();
      expect(rows.length).toBe(6);
      expect(rows[5].nextTokenLoss, `${a.study}-${a.arm}`).toBeLessThan(rows[0].nextTokenLoss);
    }
    // Table parameters: m·w + (m+2)·w with w = D/2 = 8.
    expect(s.textArms[1].oeTableParams).toBe((1021 + 1023) * 8);
    expect(s.textArms[1].lmParams).toBe(s.textArms[0].lmParams);
    // The sparse path checkpoints its host tables beside the loop's checkpoint.
    expect(existsSync(join(run.dir, "arms", "text-oe-m1021", "checkpoints", "tables.safetensors"))).toBe(true);
    expect(s.fit).not.toBeNull();
    expect(s.verdicts.length).toBeGreaterThanOrEqual(3);
    for (const f of ["summary.json", "report.html", "report.md", "results.md"]) expect(existsSync(join(run.dir, f)), f).toBe(true);
    const results = readFileSync(join(run.dir, "results.md"), "utf8");
    expect(results).toContain("0.0256");
    expect(results).toContain("oe-m4093");
    // A second call resumes: finished arms are kept, not retrained.
    const again = (await overTokenizedExperiment.run(config, quietContext(run, { resume: true }))) as OverTokenizedSummary;
    expect(again.textArms.map((a) => a.valLoss)).toEqual(s.textArms.map((a) => a.valLoss));
  });
});
