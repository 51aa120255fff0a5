/**
 * The shape every runnable experiment has (the foundation LM and each paper), so one CLI verb
 * (`tinyfoundry run <name>`) and the reproduction suite can run, resume and report any of them.
 *
 * An experiment with several arms (fp32 vs FP4, baseline vs over-encoding, ...) runs each arm in
 * its own run directory under `<run>/arms/<arm>/` through `runArm`: a finished arm is never
 * redone, an interrupted one resumes from its checkpoint.
 */
import type { z } from "zod";
import { existsSync, mkdirSync } from "node:fs";
import { createRun, openRun, type RunDir } from "./run-dir.js";
import type { ProgressEvent } from "./loop.js";

export type PresetName = "tiny" | "quick" | "full";

export type ExperimentContext = {
  run: RunDir;
  resume: boolean;
  signal: AbortSignal;
  /** Progress of the current arm's training loop (the CLI shows it). */
  onProgress: (e: ProgressEvent, arm?: string) => void;
  /** A line for the user (the CLI prints it; tests may ignore it). */
  log: (msg: string) => void;
};

export type Experiment<C> = {
  /** CLI name, e.g. "fp4-training". */
  name: string;
  /** Paper title and arXiv id ("" for the foundation LM). */
  title: string;
  arxiv: string;
  /** One-line claim the experiment tests. */
  claim: string;
  presets: Record<PresetName, C>;
  schema: z.ZodType<C>;
  /** Run every arm, write summary.json and report.html/report.md into ctx.run.dir, return the summary. */
  run: (config: C, ctx: ExperimentContext) => Promise<Record<string, unknown>>;
};

export class Interrupted extends Error {
  constructor(readonly where: string) {
    super(`interrupted during ${where}`);
  }
}

/**
 * Run (or resume, or skip when finished) one arm in `<run>/arms/<arm>/`. `fn` gets the arm's run
 * directory and whether to resume; its return value is saved as the arm's summary.json.
 */
export async function runArm<S extends Record<string, unknown>>(
  ctx: ExperimentContext,
  arm: string,
  config: unknown,
  fn: (run: RunDir, resume: boolean) => Promise<S>,
): Promise<S> {
  const dir = ctx.run.path("arms", arm);
  if (existsSync(dir) && existsSync(`${dir}/meta.json`)) {
    const r = openRun(dir);
    const s = r.summary<S>();
    if (r.meta().status === "completed" && s) {
      ctx.log(`arm ${arm}: already completed, kept`);
      return s;
    }
    if (ctx.signal.aborted) throw new Interrupted(arm);
    const out = await fn(r, true);
    if (ctx.signal.aborted) throw new Interrupted(arm);
    r.writeSummary(out);
    r.setStatus("completed");
    return out;
  }
  mkdirSync(dir, { recursive: true });
  const r = createRun({ experiment: `${ctx.run.meta().experiment}/${arm}`, seed: ctx.run.meta().seed, config, dir });
  if (ctx.signal.aborted) throw new Interrupted(arm);
  const out = await fn(r, false);
  if (ctx.signal.aborted) throw new Interrupted(arm);
  r.writeSummary(out);
  r.setStatus("completed");
  return out;
}

/** A context for library use and tests: no display, never aborted unless a signal is given. */
export function quietContext(run: RunDir, opts: { resume?: boolean; signal?: AbortSignal } = {}): ExperimentContext {
  return { run, resume: opts.resume ?? false, signal: opts.signal ?? new AbortController().signal, onProgress: () => {}, log: () => {} };
}
