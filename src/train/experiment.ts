/**
 * The experiment runner: the one place that owns a run's lifecycle, for the CLI (`train lm`, `run
 * <name>`), the suite's child processes and library use alike.
 *
 * An experiment declares its presets, its arms (trained through `runArm`, each in its own run
 * directory under `<run>/arms/<arm>/`: a finished arm is never redone, an interrupted one resumes
 * from its checkpoint) and its claims (pure functions of the summary, `claims.ts`). `runExperiment`
 * does the rest: meta.json status, wall time per arm and in total (summed over every invocation,
 * so a resumed run reports its whole cost), interruption, `summary.json`, the typed
 * `verdicts.json`, then the paper's report. A completed run is never changed by a resume.
 */
import type { z } from "zod";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createRun, openRun, type RunDir } from "./run-dir.js";
import { DivergedError, type ProgressEvent } from "./loop.js";
import { parseVerdicts, type ClaimResult, type VerdictsFile } from "./claims.js";
import { CheckpointError, checkRunCheckpoints } from "./checkpoint.js";
import { writeFileAtomic } from "../util/atomic.js";

/**
 * Run `fn`; when it throws a `CheckpointError` (a checkpoint refused before anything was
 * trained), put meta.json back byte for byte, so a refused resume leaves the run as it was.
 */
async function keepMetaOnCheckpointError<T>(run: RunDir, fn: () => Promise<T>): Promise<T> {
  const f = run.path("meta.json");
  const before = readFileSync(f);
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CheckpointError) writeFileAtomic(f, before);
    throw e;
  }
}

export type PresetName = "tiny" | "quick" | "full";
export const PRESET_NAMES: readonly PresetName[] = ["tiny", "quick", "full"];

export type ExperimentContext = {
  run: RunDir;
  resume: boolean;
  signal: AbortSignal;
  /** Progress of the current arm's training loop (the CLI shows it). */
  onProgress: (e: ProgressEvent, arm?: string) => void;
  /** A line for the user (the CLI prints it; tests may ignore it). */
  log: (msg: string) => void;
};

export type Summary = Record<string, unknown>;

export type Experiment<C, S extends Summary = Summary> = {
  /** CLI name, e.g. "fp4-training". */
  name: string;
  /** Paper title and arXiv id ("" for the foundation LM). */
  title: string;
  arxiv: string;
  /** One-line claim the experiment tests. */
  claim: string;
  presets: Record<PresetName, C>;
  schema: z.ZodType<C>;
  /** Train and evaluate every arm (through `runArm`) and return the summary. No report, no verdicts. */
  run: (config: C, ctx: ExperimentContext) => Promise<S>;
  /** The paper's claims judged on the summary (pure: no I/O, no tensors). */
  claims: (summary: S, config: C) => ClaimResult[];
  /** Write report.html / report.md / results.md from the summary and verdicts (the runner calls it). */
  report?: (run: RunDir, summary: S, verdicts: VerdictsFile, config: C) => Promise<void>;
};

export class Interrupted extends Error {
  constructor(readonly where: string) {
    super(`interrupted during ${where}`);
  }
}

/** Seconds spent so far in earlier invocations of a run (meta.json `wallSeconds`). */
function priorWall(run: RunDir): number {
  const w = run.meta().wallSeconds;
  return typeof w === "number" && Number.isFinite(w) && w >= 0 ? w : 0;
}

/**
 * Run (or resume, or skip when finished) one arm in `<run>/arms/<arm>/`. `fn` gets the arm's run
 * directory and whether to resume; its return value is saved as the arm's summary.json, and the
 * arm's wall time (over every invocation) in its meta.json.
 */
export async function runArm<S extends Summary>(ctx: ExperimentContext, arm: string, config: unknown, fn: (run: RunDir, resume: boolean) => Promise<S>): Promise<S> {
  const dir = ctx.run.path("arms", arm);
  let r: RunDir;
  let resume = false;
  if (existsSync(join(dir, "meta.json"))) {
    r = openRun(dir);
    const s = r.summary<S>();
    if (r.meta().status === "completed" && s) {
      ctx.log(`arm ${arm}: already completed, kept`);
      return s;
    }
    resume = true;
  } else {
    mkdirSync(dir, { recursive: true });
    r = createRun({ experiment: `${ctx.run.meta().experiment}/${arm}`, seed: ctx.run.meta().seed, config, dir });
  }
  if (ctx.signal.aborted) throw new Interrupted(arm);
  const before = priorWall(r);
  const t0 = Date.now();
  const wall = () => before + (Date.now() - t0) / 1000;
  const armRun = r;
  return keepMetaOnCheckpointError(armRun, async () => {
    try {
      const out = await fn(armRun, resume);
      if (ctx.signal.aborted) throw new Interrupted(arm);
      armRun.writeSummary(out);
      armRun.updateMeta({ status: "completed", wallSeconds: wall() });
      return out;
    } catch (e) {
      if (!(e instanceof CheckpointError)) armRun.updateMeta({ status: e instanceof Interrupted || ctx.signal.aborted ? "interrupted" : "failed", wallSeconds: wall() });
      throw e;
    }
  });
}

/**
 * Wall seconds of each arm of a run (from the arms' meta.json), in directory order; with `createdBefore` (an ISO
 * time) only the arms created before it, i.e. copied in from an earlier run.
 */
export function armWallSeconds(run: RunDir, createdBefore?: string): Record<string, number> {
  const dir = run.path("arms");
  const out: Record<string, number> = {};
  if (!existsSync(dir)) return out;
  for (const a of readdirSync(dir).sort()) {
    if (!existsSync(join(dir, a, "meta.json"))) continue;
    const arm = openRun(join(dir, a));
    if (createdBefore === undefined || arm.meta().createdAt < createdBefore) out[a] = Math.round(priorWall(arm) * 10) / 10;
  }
  return out;
}

export type RunOutcome<S> = {
  status: "completed" | "interrupted";
  /** True when the run had completed before this call (nothing was changed). */
  alreadyCompleted: boolean;
  summary: S | null;
  verdicts: VerdictsFile | null;
  /** Wall time over every invocation of this run. */
  wallSeconds: number;
};

/** The preset a run was created with (meta.json), or "custom". */
export function presetOf(run: RunDir): string {
  const p = run.meta().preset;
  return typeof p === "string" ? p : "custom";
}

/** Judge the claims and build the verdicts file (validated against its schema). */
export function buildVerdicts<C, S extends Summary>(exp: Experiment<C, S>, run: RunDir, summary: S, config: C): VerdictsFile {
  const preset = presetOf(run);
  return parseVerdicts(
    { experiment: exp.name, preset, smokeTest: preset === "tiny", createdAt: new Date().toISOString(), gitCommit: run.meta().gitCommit ?? null, claims: exp.claims(summary, config) },
    `${exp.name} verdicts`,
  );
}

/**
 * Run an experiment in its run directory, owning the lifecycle (see the file comment). Returns
 * `interrupted` when the signal stopped it (the run can be resumed); a failure or divergence marks
 * the run and rethrows.
 */
export async function runExperiment<C, S extends Summary>(exp: Experiment<C, S>, config: C, ctx: ExperimentContext, opts: { resumeHint?: string } = {}): Promise<RunOutcome<S>> {
  const run = ctx.run;
  const meta = run.meta();
  const done = run.summary<S>();
  if (meta.status === "completed" && done) {
    ctx.log(`${exp.name}: this run has already completed; nothing was changed (${run.dir})`);
    const v = existsSync(run.path("verdicts.json")) ? parseVerdicts(run.readJson("verdicts.json"), run.path("verdicts.json")) : null;
    return { status: "completed", alreadyCompleted: true, summary: done, verdicts: v, wallSeconds: priorWall(run) };
  }
  // Every checkpoint of the run (and its arms) is validated before any file of the run changes.
  if (ctx.resume) checkRunCheckpoints(run.dir);
  return keepMetaOnCheckpointError(run, () => runValidated(exp, config, ctx, opts));
}

async function runValidated<C, S extends Summary>(exp: Experiment<C, S>, config: C, ctx: ExperimentContext, opts: { resumeHint?: string }): Promise<RunOutcome<S>> {
  const run = ctx.run;
  const before = priorWall(run);
  const t0 = Date.now();
  const wall = () => Math.round((before + (Date.now() - t0) / 1000) * 10) / 10;
  const interrupted = (): RunOutcome<S> => {
    run.updateMeta({ status: "interrupted", wallSeconds: wall(), message: opts.resumeHint ?? `continue with --resume ${run.dir}` });
    return { status: "interrupted", alreadyCompleted: false, summary: null, verdicts: null, wallSeconds: wall() };
  };
  run.updateMeta({ status: "running" });
  let summary: S;
  try {
    summary = await exp.run(config, ctx);
  } catch (e) {
    if (e instanceof Interrupted || ctx.signal.aborted) return interrupted();
    if (e instanceof CheckpointError) throw e; // refused before training: the caller restores meta.json
    run.updateMeta({ status: e instanceof DivergedError ? "diverged" : "failed", message: e instanceof Error ? e.message : String(e), wallSeconds: wall() });
    throw e;
  }
  if (ctx.signal.aborted) return interrupted();
  const arms = armWallSeconds(run);
  const full = { ...summary, wallSeconds: wall(), ...(Object.keys(arms).length ? { armWallSeconds: arms } : {}) } as S;
  run.writeSummary(full);
  const verdicts = buildVerdicts(exp, run, full, config);
  run.writeJson("verdicts.json", verdicts);
  await exp.report?.(run, full, verdicts, config);
  const wallSeconds = wall();
  run.updateMeta({ status: "completed", wallSeconds, message: undefined });
  return { status: "completed", alreadyCompleted: false, summary: full, verdicts, wallSeconds };
}

/** Read a run's verdicts.json (validated), or null when it has none. */
export function readVerdicts(dir: string): VerdictsFile | null {
  const f = join(dir, "verdicts.json");
  if (!existsSync(f)) return null;
  return parseVerdicts(openRun(dir).readJson("verdicts.json"), f);
}

/** A context for library use and tests: no display, never aborted unless a signal is given. */
export function quietContext(run: RunDir, opts: { resume?: boolean; signal?: AbortSignal } = {}): ExperimentContext {
  return { run, resume: opts.resume ?? false, signal: opts.signal ?? new AbortController().signal, onProgress: () => {}, log: () => {} };
}
