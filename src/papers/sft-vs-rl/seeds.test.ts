/**
 * Task seeds from one stage-0 model, the SFT curve past the init and cheaper intermediate evaluations (issue 24's
 * budget and floor): arm names per seed, the branch steps of the curve, the merged curve and its table, the presets'
 * settings, and end to end a GeneralPoints-only `tiny` run with two task seeds whose claims pool both seeds with a
 * seed floor, one shared stage-0 arm, and an SFT curve that reaches past the init.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initEngine } from "../../engine/index.js";
import { parseVerdicts, type VerdictsFile } from "../../train/claims.js";
import { quietContext, readVerdicts, runExperiment } from "../../train/experiment.js";
import { createRun } from "../../train/run-dir.js";
import { branchCurveSteps } from "./branches.js";
import { sftVsRlPresets, sftVsRlSchema, type SftVsRlConfig } from "./config.js";
import { seedArm } from "./experiment.js";
import { sftVsRlExperiment } from "./index.js";
import { computeCurveLines, sftCurveLines } from "./results.js";
import { sftCurve, type EvalRow, type SftVsRlSummary, type TaskSummary } from "./summary.js";

describe("task seeds and the SFT curve (pure)", () => {
  it("keeps the first seed's arm names and suffixes the others", () => {
    expect(seedArm("ppo", 0, 7)).toBe("ppo");
    expect(seedArm("ppo", 1, 8)).toBe("ppo-s8");
    expect(seedArm("nav-sft-init", 2, 2)).toBe("nav-sft-init-s2");
  });

  it("maps curve steps counted from stage 0 onto the SFT branch's own steps", () => {
    expect(branchCurveSteps([200, 400], 100, 1092)).toEqual([100, 300]);
    // Steps inside the init, past the branch, or repeated are dropped.
    expect(branchCurveSteps([50, 100, 400, 400, 2000], 100, 500)).toEqual([300]);
    expect(branchCurveSteps([], 100, 500)).toEqual([]);
  });

  const r = (id: number, ood: number): EvalRow => ({ idSuccess: id, idStdErr: 0.01, oodSuccess: ood, oodStdErr: 0.02, oodPromptRule: ood + 0.3, oodTrainingRule: 0.1 });
  const t: TaskSummary = {
    env: "general-points",
    seed: 0,
    label: "GP-L",
    title: "GeneralPoints-language",
    arms: { init: "sft-init", ppo: "ppo", sft: "sft" },
    splits: ["id", "ood"],
    episodes: 500,
    midEpisodes: 200,
    verifyIter: 5,
    metric: { key: "Success", seKey: "StdErr", name: "success rate" },
    trainingRuleKey: "oodTrainingRule",
    trainingRuleText: "",
    paper: { init: 11.5, rl: 15, sft: 3.4 },
    init: { flops: 1, steps: 100, finalLoss: 0, meanSeqTokens: 80, row: r(0.97, 0.37), curve: [{ flops: 0, step: 25, row: r(0.2, 0.05) }, { flops: 0, step: 50, row: r(0.8, 0.3) }], curveEpisodes: 150 },
    ppo: { updates: 2, flops: 2, status: "completed", points: [] },
    sft: {
      steps: 500,
      flops: 2,
      finalLoss: 0,
      points: [{ flops: 0, step: 0, row: r(0.97, 0.37) }, { flops: 1, step: 250, row: r(1, 0.1) }, { flops: 2, step: 500, row: r(1, 0) }],
      curve: [{ flops: 0, step: 200, row: r(0.99, 0.4) }, { flops: 0, step: 350, row: r(0.5, 0.5) }],
    },
  };

  it("merges the init's curve, the init, the branch's checkpoints and its curve points by SFT steps from stage 0", () => {
    const c = sftCurve(t);
    expect(c.map((p) => p.step)).toEqual([25, 50, 100, 200, 350, 600]);
    // Episodes: the curve's, the claims' at the init and the branch's last checkpoint, the intermediate count between.
    expect(c.map((p) => p.episodes)).toEqual([150, 150, 500, 150, 200, 500]);
    // A branch checkpoint wins over a curve point at the same step (it was evaluated on more episodes).
    expect(c.find((p) => p.step === 350)!.row.idSuccess).toBe(1);
    expect(sftCurve({ ...t, init: { ...t.init, curve: [] } })).toEqual([]);
  });

  it("writes the curve as a table, with the stage-0 model's ID success from the no-SFT arm at step 0", () => {
    const s = { noSft: [{ seed: 0, updates: 4, flops: 1, episodes: 125, meanStepReward: -3, rolloutSuccess: 0, start: { idSuccess: 0, idStdErr: 0 }, final: {} }] } as unknown as SftVsRlSummary;
    const lines = sftCurveLines(t, s);
    expect(lines).toContain("| 0 | 125 (ID only) | 0.0 ± 0.0 | not evaluated | | |");
    expect(lines).toContain("| 50 | 150 | 80.0 ± 1.0 | 30.0 ± 2.0 | 60.0 | 10.0 |");
    expect(lines).toContain("| 600 | 500 | 100.0 ± 1.0 | 0.0 ± 2.0 | 30.0 | 10.0 |");
    expect(sftCurveLines(t, { noSft: [] } as unknown as SftVsRlSummary).some((l) => l.startsWith("| 0 |"))).toBe(false);
  });

  it("writes both branches along their FLOPs, with the OOD change and the KL to the init when the run measured it", () => {
    const kl = (row: EvalRow, v: number): EvalRow => ({ ...row, idKLRoll: v, idKLTemperature: 1 });
    const withKl: TaskSummary = {
      ...t,
      ppo: { ...t.ppo, points: [{ flops: 0, step: 0, row: r(0.97, 0.37) }, { flops: 2e12, step: 2, row: kl(r(1, 0.45), 0.2) }] },
      sft: { ...t.sft, points: [{ flops: 0, step: 0, row: r(0.97, 0.37) }, { flops: 2e12, step: 500, row: kl(r(1, 0), 1.05) }] },
    };
    const lines = computeCurveLines(withKl);
    expect(lines.find((l) => l.startsWith("| branch"))).toContain("KL to the init on ID prompts, answers sampled at T 1 (nats)");
    expect(lines).toContain("| PPO | 0 | 0.00e+0 | 97.0 ± 1.0 | 37.0 ± 2.0 | +0.0 | 0 |");
    expect(lines).toContain("| PPO | 2 | 2.00e+12 | 100.0 ± 1.0 | 45.0 ± 2.0 | +8.0 | 0.200 |");
    expect(lines).toContain("| SFT | 500 | 2.00e+12 | 100.0 ± 1.0 | 0.0 ± 2.0 | -37.0 | 1.050 |");
    // A run without the KL readout: no KL column; a branch without checkpoints: no table.
    const plain = computeCurveLines(t.ppo.points.length ? t : { ...t, ppo: { ...t.ppo, points: [{ flops: 0, step: 0, row: r(0.97, 0.37) }] } });
    expect(plain.find((l) => l.startsWith("| branch"))).not.toContain("KL");
    expect(plain).toContain("| SFT | 250 | 1.00e+0 | 100.0 ± 1.0 | 10.0 ± 2.0 | -27.0 |");
    expect(computeCurveLines(t)).toEqual([]);
  });

  it("sizes the presets: quick two seeds in two child processes, 500 episodes per split at every compute point, the curve to step 400; full two seeds", () => {
    const q = sftVsRlPresets.quick;
    expect(q.taskSeeds).toBe(2);
    expect(q.seedJobs).toBe(2);
    // Issue 24: >= 500 episodes per split at every compute point (no cheaper intermediate points since the tight batch shape).
    expect(q.eval.midEpisodes).toBeUndefined();
    expect(q.eval.episodes).toBeGreaterThanOrEqual(500);
    expect(branchCurveSteps(q.sft.curveSteps, q.sftInit.steps, 1000)).toEqual([100, 300]);
    // The branch continues the init: same batch and learning rate (the curve past the init is one SFT run).
    expect(q.sft.batchSize).toBe(q.sftInit.batchSize);
    expect(q.sft.lr).toBe(q.sftInit.lr);
    expect(q.sftInit.minLrRatio).toBe(1);
    // PPO's cosine spans its updates, and the branches have at least five compute points past the init (issue 24).
    expect(q.ppo.lrMaxSteps).toBe(q.ppo.updates);
    const points = Array.from({ length: q.ppo.updates }, (_, i) => i + 1).filter((u) => u % q.eval.every === 0 || u === q.ppo.updates);
    expect(points.length).toBeGreaterThanOrEqual(5);
    expect(sftVsRlPresets.full.taskSeeds).toBe(2);
  });

  it("parses configs saved before these settings existed", () => {
    const old = JSON.parse(JSON.stringify(sftVsRlPresets.quick)) as Record<string, unknown> & { sft: Record<string, unknown>; eval: Record<string, unknown> };
    delete old.taskSeeds;
    delete old.sft.curveSteps;
    delete old.eval.midEpisodes;
    const c = sftVsRlSchema.parse(old);
    expect(c.taskSeeds).toBe(1);
    expect(c.sft.curveSteps).toEqual([]);
    expect(c.eval.midEpisodes).toBeUndefined();
  });
});

describe("two task seeds from one stage-0 model (tiny, GeneralPoints only)", () => {
  let summary: SftVsRlSummary;
  let verdicts: VerdictsFile;
  let dir = "";
  beforeAll(async () => {
    await initEngine();
    const tiny = sftVsRlPresets.tiny;
    const config: SftVsRlConfig = {
      ...tiny,
      envs: ["general-points"],
      taskSeeds: 2,
      sftInit: { ...tiny.sftInit, curveEvery: 2, curveEpisodes: 2 },
      sft: { ...tiny.sft, curveSteps: [5] },
      eval: { ...tiny.eval, episodes: 4, midEpisodes: 2 },
    };
    const run = createRun({ experiment: "sft-vs-rl", seed: config.seed, config, root: mkdtempSync(join(tmpdir(), "sft-vs-rl-seeds-")), extraMeta: { preset: "tiny" } });
    dir = run.dir;
    summary = (await runExperiment(sftVsRlExperiment, config, quietContext(run))).summary!;
    verdicts = readVerdicts(dir)!;
  }, 180_000);

  it("trains each seed's init and branches from the one stage-0 arm and pools them in the claims", () => {
    for (const a of ["stage0", "sft-init", "ppo", "sft", "ppo-no-sft", "sft-init-s1", "ppo-s1", "sft-s1", "ppo-no-sft-s1"]) expect(existsSync(join(dir, "arms", a, "summary.json")), a).toBe(true);
    expect(existsSync(join(dir, "arms", "stage0-s1"))).toBe(false);
    expect(summary.tasks.map((t) => [t.env, t.seed, t.arms.ppo])).toEqual([
      ["general-points", 0, "ppo"],
      ["general-points", 1, "ppo-s1"],
    ]);
    expect(summary.noSft.map((n) => n.seed)).toEqual([0, 1]);
    parseVerdicts(verdicts);
    const ood = verdicts.claims.find((c) => c.id === "gp-ood-sft")!;
    expect(ood.ours?.seeds ?? []).toEqual(expect.arrayContaining([0, 1]));
    expect(typeof ood.floor === "number" || ood.verdict === "not testable").toBe(true);
  });

  it("evaluates intermediate checkpoints on fewer episodes and extends the SFT curve past the init", () => {
    const t = summary.tasks[0];
    expect(t.midEpisodes).toBe(2);
    // The tiny init trains 4 steps; curve step 5 is the branch's step 1, kept apart from the branch's checkpoints.
    expect(t.sft.curve?.map((p) => p.step)).toEqual([5]);
    expect(t.sft.points.some((p) => p.row.curveOnly)).toBe(false);
    expect(sftCurve(t).map((p) => p.step)).toContain(5);
    const results = readFileSync(join(dir, "results.md"), "utf8");
    expect(results).toContain("Success along SFT steps from the stage-0 model");
    expect(results).toContain("(2 at the intermediate checkpoints)");
  });

  it("writes one section per seed with its own no-SFT arm, and the pooled claims table once", () => {
    const results = readFileSync(join(dir, "results.md"), "utf8");
    expect(results.match(/^### SFT vs RL on /gm)?.length).toBe(2);
    expect(results.match(/^PPO from the stage-0 model without SFT/gm)?.length).toBe(2);
    expect(results.match(/^\| claim \| paper \|/gm)?.length).toBe(1);
    expect(results).toContain("Claims, judged on seeds 0, 1 together:");
    // The pooled table follows the last seed's section.
    expect(results.indexOf("Claims, judged on seeds")).toBeGreaterThan(results.lastIndexOf("### SFT vs RL on "));
    // Each arm's minutes (the budget's split), stage 0 first.
    const perArm = /per arm, in minutes: (.*)\)\./.exec(results)?.[1].split(", ").map((x) => x.split(" ")[0]);
    expect(perArm?.[0]).toBe("stage0");
    expect(perArm).toEqual(expect.arrayContaining(["sft-init", "ppo", "sft", "sft-init-s1", "ppo-s1", "sft-s1"]));
  });
});
