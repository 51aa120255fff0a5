import { beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine } from "../../engine/index.js";
import { createRun } from "../../train/run-dir.js";
import { quietContext, runExperiment } from "../../train/experiment.js";
import { parseVerdicts } from "../../train/claims.js";
import { validateConfig } from "../../train/config.js";
import { PNG_SIGNATURE } from "../../data/png.js";
import { experiments } from "../../registry.js";
import { guidanceFreeExperiment, guidanceFreePresets, guidanceFreeSchema, guidanceFor } from "./index.js";

beforeAll(async () => {
  await initEngine();
});

describe("guidance-free experiment", () => {
  it("is registered and its presets validate; bad fields get one-line errors naming them", () => {
    expect(experiments["guidance-free"]).toBe(guidanceFreeExperiment);
    for (const p of Object.values(guidanceFreePresets)) expect(() => validateConfig(guidanceFreeSchema, p)).not.toThrow();
    const bad = structuredClone(guidanceFreePresets.tiny);
    bad.gft.minBeta = 0.9;
    bad.gft.maxBeta = 0.5;
    expect(() => validateConfig(guidanceFreeSchema, bad)).toThrow(/gft.minBeta/);
    const bad2 = structuredClone(guidanceFreePresets.tiny);
    bad2.mixture.sample.guidance = [2, 3];
    expect(() => validateConfig(guidanceFreeSchema, bad2)).toThrow(/mixture.sample.guidance/);
  });

  it("maps guidance scales: CFG two passes at w, GFT one pass at β = 1/w", () => {
    expect(guidanceFor("CFG", 1)).toEqual({ kind: "cond" });
    expect(guidanceFor("CFG", 3)).toEqual({ kind: "cfg", w: 3 });
    expect(guidanceFor("GFT scratch", 4)).toEqual({ kind: "gft", beta: 0.25 });
  });

  it("runs the tiny preset end to end through the runner: arms, summary, verdicts, report, results table and PNG grids", async () => {
    const root = mkdtempSync(join(tmpdir(), "gf-"));
    try {
      const cfg = guidanceFreePresets.tiny;
      const run = createRun({ experiment: "guidance-free", seed: cfg.seed, config: cfg, root, extraMeta: { preset: "tiny" } });
      const out = await runExperiment(guidanceFreeExperiment, cfg, quietContext(run));
      expect(out.status).toBe("completed");
      for (const f of ["summary.json", "verdicts.json", "report.html", "report.md", "results.md"]) expect(existsSync(run.path(f))).toBe(true);
      for (const arm of ["mixture-cfg", "mixture-cfg-seed2", "mixture-gft-scratch", "mixture-gft-finetune", "digits-classifier", "digits-cfg", "digits-cfg-seed2", "ar-cfg", "ar-cfg-seed2", "ar-gft-scratch", "ar-gft-finetune"]) {
        expect(run.path("arms", arm, "metrics.jsonl")).toSatisfy(existsSync);
      }
      const png = readFileSync(run.path("arms", "mixture-eval", "samples", "mixture-samples.png"));
      expect(Array.from(png.subarray(0, 8))).toEqual(Array.from(PNG_SIGNATURE));
      expect(existsSync(run.path("arms", "digits-eval", "samples", "digits-w3.png"))).toBe(true);
      const verdicts = parseVerdicts(run.readJson("verdicts.json"));
      expect(verdicts.smokeTest).toBe(true);
      expect(verdicts.claims.length).toBe(10);
      // Two CFG models per family (other init and data seeds): every sampled w has both, and the functional test
      // has a floor at every guided w and a fine-tuning curve that starts at step 0.
      const summary0 = out.summary!;
      for (const key of ["mixture", "digits", "ar"] as const) {
        const p = summary0[key]!;
        expect(new Set(p.eval.rows.filter((r) => r.family === "CFG").map((r) => r.trainSeed))).toEqual(new Set([cfg.seed, cfg.seed + 1]));
        expect(p.functional!.rows.map((r) => r.w)).toEqual(cfg[key].sample.guidance.filter((w) => w > 1));
        for (const r of p.functional!.rows) {
          expect(Number.isFinite(r.floor) && r.floor > 0).toBe(true);
          expect(r.gaps["GFT scratch"]).toBeGreaterThanOrEqual(0);
        }
        const curve = p.functional!.finetuneCurve!;
        expect(curve[0].step).toBe(0);
        expect(curve.at(-1)!.step).toBe(cfg[key].finetune.steps);
        expect(curve.at(-1)!.gaps[0]).toBeCloseTo(p.functional!.rows[0].gaps["GFT fine-tuned"]!, 5);
      }
      // NFE: CFG at w > 1 costs two network passes per step, GFT one (exact, so judged even at tiny).
      expect(verdicts.claims.find((c) => c.id === "nfe-halved")?.verdict).toBe("reproduced");
      const summary = out.summary!;
      const rows = summary.mixture!.eval.rows;
      const steps = cfg.mixture.sample.ddimSteps;
      expect(rows.find((r) => r.family === "CFG" && r.w === 3)?.nfe).toBe(2 * steps);
      expect(rows.find((r) => r.family === "GFT scratch" && r.w === 3)?.nfe).toBe(steps);
      const results = readFileSync(run.path("results.md"), "utf8");
      expect(results).toMatch(/Preset `tiny`/);
      expect(results).toMatch(/smoke test/i);
      expect(results).toMatch(/DiT-XL\/2/);
      // Resuming a finished run keeps every arm (nothing is retrained).
      const again = await guidanceFreeExperiment.run(cfg, quietContext(run, { resume: true }));
      expect(again.mixture!.eval.rows.length).toBe(rows.length);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});
