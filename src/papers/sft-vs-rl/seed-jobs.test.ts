/**
 * Task seeds in child processes (`seedJobs`, seed-jobs.ts; issue 24's seed floor within the budget): a GeneralPoints
 * `tiny` run with two seeds and `seedJobs: 2` writes the same arms, arm for arm (summaries, metrics without timings,
 * checkpoint bytes), as the same seeds run in child processes one at a time from a copy of its stage-0 arm; and a
 * child stopped by the parent's signal in the middle of its PPO arm resumes that arm from its checkpoint. (A resumed
 * PPO arm does not repeat an uninterrupted one bit for bit: its rollout slots start new episodes, ppo.ts.)
 */
import { cpSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initEngine } from "../../engine/index.js";
import { Interrupted, quietContext, runExperiment, type ExperimentContext } from "../../train/experiment.js";
import { createRun, openRun } from "../../train/run-dir.js";
import { sftVsRlPresets, sftVsRlSchema, type SftVsRlConfig } from "./config.js";
import { sftVsRlExperiment } from "./index.js";
import { runSeedsInChildren } from "./seed-jobs.js";
import type { SftVsRlSummary } from "./summary.js";

const tiny = sftVsRlPresets.tiny;
const config: SftVsRlConfig = { ...tiny, envs: ["general-points"], taskSeeds: 2, seedJobs: 2, eval: { ...tiny.eval, episodes: 4 } };
const SEED_ARMS = ["sft-init", "ppo", "sft", "ppo-no-sft", "sft-init-s1", "ppo-s1", "sft-s1", "ppo-no-sft-s1"];

/** An arm's record without timings: its summary, its metric rows less wall-clock fields, and its checkpoint's bytes. */
function armRecord(root: string, arm: string): { summary: unknown; metrics: unknown[]; checkpoint: string } {
  const dir = join(root, "arms", arm);
  const metrics = readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => Object.fromEntries(Object.entries(JSON.parse(l) as Record<string, unknown>).filter(([k]) => !/sec|wall|time/i.test(k))));
  const checkpoint = readFileSync(join(dir, "checkpoints", "latest.safetensors")).toString("base64");
  return { summary: JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")), metrics, checkpoint };
}

/** A new run of `config` holding a copy of `from`'s stage-0 arm (the seeds' common start). */
function withStage0Of(from: string): ExperimentContext["run"] {
  const run = createRun({ experiment: "sft-vs-rl", seed: config.seed, config, root: mkdtempSync(join(tmpdir(), "sft-vs-rl-jobs-")) });
  cpSync(join(from, "arms", "stage0"), join(run.dir, "arms", "stage0"), { recursive: true });
  return run;
}

describe("task seeds in child processes (tiny, GeneralPoints, two seeds)", () => {
  let dir = "";
  let summary: SftVsRlSummary;
  const logs: string[] = [];
  beforeAll(async () => {
    await initEngine();
    const run = createRun({ experiment: "sft-vs-rl", seed: config.seed, config, root: mkdtempSync(join(tmpdir(), "sft-vs-rl-jobs-")), extraMeta: { preset: "tiny" } });
    dir = run.dir;
    summary = (await runExperiment(sftVsRlExperiment, config, { ...quietContext(run), log: (m) => logs.push(m) })).summary!;
  }, 300_000);

  it("defaults to one job (the in-process path) and rejects zero", () => {
    const { seedJobs: _, ...old } = config;
    expect(sftVsRlSchema.parse(old).seedJobs).toBe(1);
    expect(() => sftVsRlSchema.parse({ ...config, seedJobs: 0 })).toThrow(/seedJobs/);
  });

  it("writes every seed's arms under their usual names and reads them back for the summary", () => {
    for (const a of SEED_ARMS) expect(openRun(join(dir, "arms", a)).meta().status, a).toBe("completed");
    expect(summary.tasks.map((t) => [t.seed, t.arms.ppo])).toEqual([
      [0, "ppo"],
      [1, "ppo-s1"],
    ]);
    expect(summary.noSft.map((n) => n.seed)).toEqual([0, 1]);
    // The children's lines reach the parent's log, prefixed by their seed.
    expect(logs.some((l) => l.startsWith("[seed 1] "))).toBe(true);
    expect(logs.some((l) => /^\[seed 0\] arms finished/.test(l))).toBe(true);
  });

  it("equals, arm for arm, the same seeds trained by children one at a time", async () => {
    const run = withStage0Of(dir);
    await runSeedsInChildren(config, quietContext(run), 2, 1);
    for (const a of SEED_ARMS) expect(armRecord(run.dir, a), a).toEqual(armRecord(dir, a));
  }, 300_000);

  it("stops a child on the parent's signal in its PPO arm and resumes that arm from its checkpoint", async () => {
    const run = withStage0Of(dir);
    const ac = new AbortController();
    // Stop once seed 1's PPO arm reports its first update (it checkpoints after that update's evaluation).
    const ctx: ExperimentContext = { ...quietContext(run, { signal: ac.signal }), onProgress: (e, arm) => (arm === "ppo-s1" && e.kind === "step" ? ac.abort() : undefined) };
    await expect(runSeedsInChildren(config, ctx, 2, 2)).rejects.toBeInstanceOf(Interrupted);
    const ppo1 = openRun(join(run.dir, "arms", "ppo-s1"));
    expect(ppo1.meta().status).toBe("interrupted");
    expect(existsSync(ppo1.path("checkpoints", "latest.safetensors"))).toBe(true);
    expect(existsSync(join(run.dir, "arms", "sft-s1"))).toBe(false);
    const logs: string[] = [];
    const messages: string[] = [];
    const onProgress: ExperimentContext["onProgress"] = (e, arm) => (e.kind === "message" ? void messages.push(`${arm}: ${e.text}`) : undefined);
    await runSeedsInChildren(config, { ...quietContext(run, { resume: true }), log: (m) => logs.push(m), onProgress }, 2, 2);
    expect(messages).toContain("ppo-s1: ppo: resumed at update 1");
    for (const a of SEED_ARMS) expect(openRun(join(run.dir, "arms", a)).meta().status, a).toBe("completed");
    expect(logs).toContain("[seed 1] arm sft-init-s1: already completed, kept");
    // The arm finished before the stop is the uninterrupted run's; the PPO arm kept its first update and continued.
    expect(armRecord(run.dir, "sft-init-s1")).toEqual(armRecord(dir, "sft-init-s1"));
    const rows = armRecord(run.dir, "ppo-s1").metrics;
    expect(rows.map((r) => (r as { update: number }).update)).toEqual([0, 1, 2]);
    expect(rows.slice(0, 2)).toEqual(armRecord(dir, "ppo-s1").metrics.slice(0, 2));
  }, 300_000);
});
