/**
 * The reproduction suite: every experiment's preset in sequence in one suite directory
 * (`runs/suite/<YYYYMMDD-HHMMSS>-<preset>/<experiment>/`), resumable after a kill at any point
 * without redoing finished experiments (or finished arms inside one), then one report site
 * (`index.html`) and a results table (`results.md`) for the README.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { experiments } from "../registry.js";
import { createRun, makeDirs, openRun, timestamp, type RunDir } from "../train/run-dir.js";
import { Interrupted, runExperiment, type ExperimentContext, type PresetName } from "../train/experiment.js";
import type { ProgressEvent } from "../train/loop.js";
import { ConfigError, didYouMean, pickPreset, validateConfig } from "../train/config.js";
import { CheckpointError } from "../train/checkpoint.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { buildSite } from "./site.js";
import { childCommand, runChild } from "../train/spawn.js";
import type { ChildRequest, SuiteState } from "./state.js";

export type { SuiteEntry, SuiteState, ChildMessage } from "./state.js";

/** The order papers run in: the foundation first, the longest last. */
export const SUITE_ORDER = ["lm", "fp4-training", "over-tokenized", "mixture-of-mamba", "guidance-free", "omni", "omni-tokenizer", "sft-vs-rl", "sft-vs-rl-nav"];

export type SuiteEvent =
  | {
      kind: "experiment";
      index: number;
      count: number;
      name: string;
      status: "start" | "skip" | "done";
      /** The suite's state at this moment (entries' status and wall seconds over every attempt). */
      state: SuiteState;
      /** For "start": seconds this entry already spent in earlier attempts. */
      priorSeconds?: number;
    }
  | { kind: "progress"; index: number; count: number; name: string; arm?: string; event: ProgressEvent };

export type SuiteOptions = {
  preset: PresetName;
  only?: string[];
  root?: string;
  /** Resume this suite directory. */
  resume?: string;
  seed?: number;
  signal?: AbortSignal;
  onEvent?: (e: SuiteEvent) => void;
  log?: (msg: string) => void;
  /** Called once the suite directory and its first site exist (the CLI prints the site's path). */
  onStart?: (dir: string) => void;
  /**
   * Run each experiment in its own Node process (the CLI does; see child.ts). `device` is passed
   * to the child's engine.
   */
  isolate?: { device: string };
};

/**
 * The config a suite entry starts with: its preset at the suite's seed. Entries that synthesise speech (omni and
 * omni-tokenizer plan the same voices and sentences) get one WAV cache in the suite directory unless their preset names
 * one, so the second entry does not synthesise again (the samples are the same either way: speech.test.ts).
 */
export function suiteEntryConfig(presets: Record<string, unknown>, preset: string, seed: number, suiteDir: string): Record<string, unknown> {
  const cfg = pickPreset(presets, preset) as Record<string, unknown>;
  cfg.seed = seed;
  const speech = cfg.speech as { cacheDir?: string | null } | undefined;
  if (speech && speech.cacheDir === null) cfg.speech = { ...speech, cacheDir: resolve(suiteDir, "cache", "speech") };
  return cfg;
}

/** Run one experiment of the suite in a child process (child.ts), relaying its log and progress. */
async function runInChild(req: ChildRequest, ctx: ExperimentContext): Promise<{ wallSeconds: number; maxRssMB: number }> {
  const out = await runChild([...childCommand(import.meta.url, "child"), JSON.stringify(req)], ctx, req.name);
  return { wallSeconds: out.wallSeconds, maxRssMB: out.maxRssMB };
}

export function suiteNames(only?: string[]): string[] {
  const known = [...SUITE_ORDER.filter((n) => n in experiments), ...Object.keys(experiments).filter((n) => !SUITE_ORDER.includes(n))];
  if (!only || only.length === 0) return known;
  for (const n of only) if (!(n in experiments)) throw new ConfigError(`--only: "${n}" is not an experiment${didYouMean(n, known)}; allowed: ${known.join(", ")}`);
  return known.filter((n) => only.includes(n));
}

/** Wall seconds a run has recorded over all its invocations (meta.json, written by the runner). */
function wallOf(run: RunDir): number {
  const w = run.meta().wallSeconds;
  return typeof w === "number" ? w : 0;
}

export async function runSuite(opts: SuiteOptions): Promise<{ dir: string; state: SuiteState; interrupted: boolean }> {
  const log = opts.log ?? (() => {});
  const emit = opts.onEvent ?? (() => {});
  const signal = opts.signal ?? new AbortController().signal;
  let dir: string;
  let state: SuiteState;
  if (opts.resume) {
    dir = resolve(opts.resume);
    if (!existsSync(join(dir, "suite.json"))) throw new Error(`--resume: ${opts.resume} is not a suite directory (no suite.json)`);
    state = JSON.parse(readFileSync(join(dir, "suite.json"), "utf8")) as SuiteState;
  } else {
    const names = suiteNames(opts.only);
    dir = resolve(opts.root ?? "runs", "suite", `${timestamp()}-${opts.preset}`);
    makeDirs(dir);
    const now = new Date().toISOString();
    state = { preset: opts.preset, seed: opts.seed ?? 0, createdAt: now, updatedAt: now, entries: names.map((name) => ({ name, status: "pending", wallSeconds: 0 })) };
  }
  const save = () => {
    state.updatedAt = new Date().toISOString();
    writeJsonAtomic(join(dir, "suite.json"), state);
  };
  save();
  await buildSite(dir);
  opts.onStart?.(dir);
  const count = state.entries.length;
  let interrupted = false;
  for (let i = 0; i < count; i++) {
    const entry = state.entries[i];
    const exp = experiments[entry.name];
    if (!exp) {
      entry.status = "failed";
      entry.message = "experiment not in this checkout";
      continue;
    }
    const runDir = join(dir, entry.name);
    if (entry.status === "completed") {
      emit({ kind: "experiment", index: i, count, name: entry.name, status: "skip", state });
      continue;
    }
    if (signal.aborted) {
      interrupted = true;
      break;
    }
    let run: RunDir;
    let resume = false;
    if (existsSync(join(runDir, "meta.json"))) {
      run = openRun(runDir);
      resume = true;
    } else {
      const config = validateConfig(exp.schema, suiteEntryConfig(exp.presets, state.preset, state.seed, dir));
      run = createRun({ experiment: entry.name, seed: state.seed, config, dir: runDir, extraMeta: { preset: state.preset, suite: dir } });
    }
    const config = validateConfig(exp.schema, run.config());
    entry.status = "running";
    save();
    emit({ kind: "experiment", index: i, count, name: entry.name, status: "start", state, priorSeconds: wallOf(run) });
    const ctx: ExperimentContext = {
      run,
      resume,
      signal,
      log,
      onProgress: (event, arm) => emit({ kind: "progress", index: i, count, name: entry.name, arm, event }),
    };
    try {
      let wallSeconds: number;
      let interruptedHere = false;
      if (opts.isolate) {
        const out = await runInChild({ name: entry.name, runDir, resume, device: opts.isolate.device }, ctx);
        wallSeconds = out.wallSeconds;
        entry.maxRssMB = Math.max(entry.maxRssMB ?? 0, out.maxRssMB);
      } else {
        const out = await runExperiment(exp, config, ctx);
        wallSeconds = out.wallSeconds;
        interruptedHere = out.status === "interrupted";
      }
      entry.wallSeconds = wallSeconds;
      if (interruptedHere || signal.aborted) {
        entry.status = "interrupted";
        interrupted = true;
        save();
        break;
      }
      entry.status = "completed";
      if (entry.message) entry.message = `an earlier attempt failed: ${entry.message}`;
      emit({ kind: "experiment", index: i, count, name: entry.name, status: "done", state });
    } catch (e) {
      entry.wallSeconds = wallOf(run);
      if (e instanceof Interrupted || signal.aborted) {
        entry.status = "interrupted";
        interrupted = true;
        save();
        break;
      }
      entry.status = "failed";
      entry.message = e instanceof Error ? e.message : String(e);
      // A refused checkpoint left the run as it was; the suite's entry says why.
      if (!(e instanceof CheckpointError) && run.meta().status !== "failed") run.setStatus("failed", entry.message);
      log(`${entry.name} failed: ${entry.message}`);
    }
    save();
    await buildSite(dir); // the site shows each result as soon as its entry finishes
  }
  save();
  await buildSite(dir);
  return { dir, state, interrupted };
}
