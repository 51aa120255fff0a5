/**
 * A suite site from runs made one at a time (`tinyfoundry collect <run-dirs...>`): the same index.html and
 * results.md as `reproduce`, for people who ran the experiments separately (one per idle machine slot, or after
 * changing one paper). Each run stays where it is; the suite directory links to it by the experiment's name,
 * and its suite.json says the entries were collected, which the site's first line repeats.
 */
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { experiments } from "../registry.js";
import { armWallSeconds, presetOf, type PresetName } from "../train/experiment.js";
import { openRun } from "../train/run-dir.js";
import { machineLine } from "../report/run-report.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { ConfigError } from "../train/config.js";
import { buildSite } from "./site.js";
import { SUITE_ORDER } from "./reproduce.js";
import type { SuiteEntry, SuiteState } from "./state.js";

const PRESETS = ["tiny", "quick", "full"];

/** Validate the runs (finished experiment runs of one preset and seed, one per experiment) and build the site. */
export async function collectSuite(runDirs: string[], root: string, now = new Date()): Promise<{ dir: string; html: string; md: string }> {
  if (runDirs.length === 0) throw new ConfigError("collect: give at least one run directory");
  const runs = runDirs.map((d) => {
    if (!existsSync(join(d, "meta.json"))) throw new ConfigError(`collect: ${d} is not a run directory (no meta.json)`);
    const run = openRun(d);
    const meta = run.meta();
    if (!(meta.experiment in experiments)) throw new ConfigError(`collect: ${d} is a run of "${meta.experiment}", not of a suite experiment; allowed: ${Object.keys(experiments).join(", ")}`);
    return { dir: resolve(d), run, meta, preset: presetOf(run) };
  });
  const presets = [...new Set(runs.map((r) => r.preset))];
  if (presets.length !== 1 || !PRESETS.includes(presets[0])) throw new ConfigError(`collect: the runs must share one preset (tiny, quick or full); got ${presets.join(", ")}`);
  const seeds = [...new Set(runs.map((r) => r.meta.seed))];
  if (seeds.length !== 1) throw new ConfigError(`collect: the runs must share one seed; got ${seeds.join(", ")}`);
  const seen = new Set<string>();
  for (const r of runs) {
    if (seen.has(r.meta.experiment)) throw new ConfigError(`collect: two runs of "${r.meta.experiment}"; give one run per experiment`);
    seen.add(r.meta.experiment);
  }
  const rank = (n: string) => (SUITE_ORDER.includes(n) ? SUITE_ORDER.indexOf(n) : SUITE_ORDER.length);
  runs.sort((a, b) => rank(a.meta.experiment) - rank(b.meta.experiment));
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  const dir = join(root, "suite", `${stamp}-${presets[0]}-collected`);
  if (existsSync(dir)) throw new ConfigError(`collect: ${dir} exists already`);
  mkdirSync(dir, { recursive: true });
  const entries: SuiteEntry[] = runs.map((r) => {
    symlinkSync(r.dir, join(dir, r.meta.experiment), "dir");
    const status = r.meta.status === "completed" || r.meta.status === "failed" || r.meta.status === "interrupted" ? r.meta.status : "pending";
    // The run's own wall time plus that of every arm copied in from an earlier run (created before this run, e.g. a
    // shared stage 0): not part of this run's invocations, but its results rest on it. Arms trained by this run are in
    // its own wall time already (a sum of arms would count twice those trained side by side, e.g. sft-vs-rl's seeds).
    const own = typeof r.meta.wallSeconds === "number" ? r.meta.wallSeconds : 0;
    const copied = Object.values(armWallSeconds(r.run, r.meta.createdAt)).reduce((a, b) => a + b, 0);
    return { name: r.meta.experiment, status, wallSeconds: own + copied };
  });
  const state: SuiteState = { preset: presets[0] as PresetName, seed: seeds[0], createdAt: now.toISOString(), updatedAt: now.toISOString(), entries, collected: runs.map((r) => ({ name: r.meta.experiment, run: r.dir, createdAt: r.meta.createdAt, commit: r.meta.gitCommit, ...(r.meta.gitDirty ? { dirty: true } : {}), machine: machineLine(r.meta).replace(/, commit [0-9a-f]+( with uncommitted changes)?$/, "") })) };
  writeJsonAtomic(join(dir, "suite.json"), state);
  const site = await buildSite(dir);
  return { dir, ...site };
}

