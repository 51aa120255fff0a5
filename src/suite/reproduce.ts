/**
 * The reproduction suite: every experiment's preset in sequence in one suite directory
 * (`runs/suite/<YYYYMMDD-HHMMSS>-<preset>/<experiment>/`), resumable after a kill at any point
 * without redoing finished experiments (or finished arms inside one), then one report site
 * (`index.html`) and a results table (`results.md`) for the README.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { experiments } from "../registry.js";
import { createRun, openRun, timestamp, type RunDir } from "../train/run-dir.js";
import { Interrupted, type ExperimentContext, type PresetName } from "../train/experiment.js";
import type { ProgressEvent } from "../train/loop.js";
import { pickPreset, validateConfig } from "../train/config.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { buildSite } from "./site.js";

/** The order papers run in: the foundation first, the longest last. */
export const SUITE_ORDER = ["lm", "fp4-training", "over-tokenized", "mixture-of-mamba", "guidance-free", "omni", "sft-vs-rl"];

export type SuiteEntry = { name: string; status: "pending" | "running" | "completed" | "interrupted" | "failed"; wallSeconds: number; message?: string };
export type SuiteState = { preset: PresetName; seed: number; createdAt: string; updatedAt: string; entries: SuiteEntry[] };

export type SuiteEvent =
  | { kind: "experiment"; index: number; count: number; name: string; status: "start" | "skip" | "done" }
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
  /**
   * Run each experiment in its own Node process (the CLI does). jax-js's wasm memory only grows
   * and its free lists never merge, so seven experiments in one process can hit the 4 GiB wasm
   * limit that each one alone stays far below. `device` is passed to the child's engine.
   */
  isolate?: { device: string };
};

/** What a suite child process sends its parent over IPC. */
export type ChildMessage =
  | { kind: "log"; msg: string }
  | { kind: "progress"; arm?: string; event: ProgressEvent }
  | { kind: "done"; summary: Record<string, unknown> }
  | { kind: "interrupted" }
  | { kind: "failed"; message: string };

const BIN = fileURLToPath(new URL("../../bin/tinyfoundry.js", import.meta.url));

/**
 * Run one experiment of the suite in a child process (`tinyfoundry suite-entry`), relaying its
 * log and progress. The child gets its own process group so a terminal's Ctrl-C reaches only the
 * parent, which forwards exactly one SIGTERM: the child then checkpoints and stops like any run.
 */
function runInChild(name: string, runDir: string, resume: boolean, device: string, ctx: ExperimentContext): Promise<Record<string, unknown>> {
  return new Promise((resolveP, reject) => {
    const args = [BIN, "suite-entry", name, runDir, "--device", device, ...(resume ? [] : ["--fresh"])];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], detached: true, env: process.env });
    let outcome: ChildMessage | null = null;
    const onAbort = () => child.kill("SIGTERM");
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    child.on("message", (m: ChildMessage) => {
      if (m.kind === "log") ctx.log(m.msg);
      else if (m.kind === "progress") ctx.onProgress(m.event, m.arm);
      else outcome = m;
    });
    child.on("error", reject);
    child.on("exit", (code, sig) => {
      ctx.signal.removeEventListener("abort", onAbort);
      const o = outcome as ChildMessage | null;
      if (o?.kind === "done") resolveP(o.summary);
      else if (o?.kind === "interrupted" || ctx.signal.aborted) reject(new Interrupted(name));
      else if (o?.kind === "failed") reject(new Error(o.message));
      else reject(new Error(`${name}: child process exited with ${sig ?? `code ${code}`} before finishing`));
    });
  });
}

export function suiteNames(only?: string[]): string[] {
  const known = [...SUITE_ORDER.filter((n) => n in experiments), ...Object.keys(experiments).filter((n) => !SUITE_ORDER.includes(n))];
  if (!only || only.length === 0) return known;
  for (const n of only) if (!(n in experiments)) throw new Error(`--only: "${n}" is not an experiment; allowed: ${known.join(", ")}`);
  return known.filter((n) => only.includes(n));
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
    mkdirSync(dir, { recursive: true });
    const now = new Date().toISOString();
    state = { preset: opts.preset, seed: opts.seed ?? 0, createdAt: now, updatedAt: now, entries: names.map((name) => ({ name, status: "pending", wallSeconds: 0 })) };
  }
  const save = () => {
    state.updatedAt = new Date().toISOString();
    writeJsonAtomic(join(dir, "suite.json"), state);
  };
  save();
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
      emit({ kind: "experiment", index: i, count, name: entry.name, status: "skip" });
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
      const cfg = pickPreset(exp.presets, state.preset) as Record<string, unknown>;
      cfg.seed = state.seed;
      const config = validateConfig(exp.schema, cfg);
      run = createRun({ experiment: entry.name, seed: state.seed, config, dir: runDir, extraMeta: { preset: state.preset, suite: dir } });
    }
    const config = validateConfig(exp.schema, run.config());
    entry.status = "running";
    save();
    emit({ kind: "experiment", index: i, count, name: entry.name, status: "start" });
    const ctx: ExperimentContext = {
      run,
      resume,
      signal,
      log,
      onProgress: (event, arm) => emit({ kind: "progress", index: i, count, name: entry.name, arm, event }),
    };
    const t0 = Date.now();
    try {
      const summary = opts.isolate ? await runInChild(entry.name, runDir, resume, opts.isolate.device, ctx) : await exp.run(config, ctx);
      entry.wallSeconds += (Date.now() - t0) / 1000;
      if (signal.aborted) {
        entry.status = "interrupted";
        run.setStatus("interrupted");
        interrupted = true;
        save();
        break;
      }
      run.writeSummary({ ...summary, wallSeconds: entry.wallSeconds });
      run.setStatus("completed");
      entry.status = "completed";
      if (entry.message) entry.message = `an earlier attempt failed: ${entry.message}`;
      emit({ kind: "experiment", index: i, count, name: entry.name, status: "done" });
    } catch (e) {
      entry.wallSeconds += (Date.now() - t0) / 1000;
      if (e instanceof Interrupted || signal.aborted) {
        entry.status = "interrupted";
        run.setStatus("interrupted");
        interrupted = true;
        save();
        break;
      }
      entry.status = "failed";
      entry.message = e instanceof Error ? e.message : String(e);
      run.setStatus("failed", entry.message);
      log(`${entry.name} failed: ${entry.message}`);
    }
    save();
  }
  save();
  await buildSite(dir);
  return { dir, state, interrupted };
}
