/**
 * The training loop every experiment reuses. It owns the order of things (batch, jitted step,
 * loss read-back, metrics, evaluation, checkpoint), resume, interruption and divergence; the
 * experiment supplies the model-specific pieces as functions. It is quiet: progress leaves
 * through `onProgress`, and the CLI decides how to show it.
 *
 * Guarantees:
 * - `metrics.jsonl` holds only deterministic values (no timings), so the same config and seed
 *   give the same file, and a resumed run gives the same rows as an uninterrupted one.
 * - A checkpoint is written every `checkpointEvery` steps, at the end, and when `signal` aborts
 *   (SIGINT/SIGTERM in the CLI); `resume` continues from it bit-identically (params, AdamW
 *   moments, step and every host RNG stream are restored).
 * - A NaN/Inf loss stops the run with status "diverged" and keeps the last good checkpoint.
 */
import { existsSync } from "node:fs";
import { tree, type Array, type JsTree } from "../engine/index.js";
import type { AdamWState } from "../optim/adamw.js";
import { Rng, type RngState } from "../util/rng.js";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import type { RunDir } from "./run-dir.js";
import type { TrainStep } from "./step.js";

export type ProgressEvent =
  | { kind: "step"; step: number; total: number; loss: number; lr: number; tokensPerSec: number; gradNorm: number }
  | { kind: "eval"; step: number; total: number; metrics: Record<string, number> }
  | { kind: "checkpoint"; step: number; file: string }
  | { kind: "message"; text: string };

export class DivergedError extends Error {
  constructor(
    readonly step: number,
    readonly loss: number,
  ) {
    super(`training diverged: loss is ${loss} at step ${step}; the last good checkpoint is kept (lower train.lr or raise train.clip)`);
  }
}

export type LoopSpec<P extends JsTree<Array>> = {
  run: RunDir;
  totalSteps: number;
  /** Fresh parameters and optimizer state (used when not resuming; disposed when resuming). */
  init: () => { params: P; opt: AdamWState<P> };
  trainStep: TrainStep<P>;
  /** Host-side batch for 0-based `step`, drawn from the named RNG streams. */
  nextBatch: (step: number, rngs: Record<string, Rng>) => Array[];
  /** Learning rate at 0-based `step`. */
  lr: (step: number) => number;
  /** Named host RNG streams, seeded from the config seed; restored on resume. */
  rngs: Record<string, Rng>;
  tokensPerStep: number;
  evalEvery: number;
  /** Evaluation at a step (params not consumed); its numbers go to metrics.jsonl. */
  evaluate?: (params: P, step: number) => Promise<Record<string, number>>;
  checkpointEvery: number;
  /** Extra deterministic values to log per step, from the step's aux outputs. */
  auxNames?: string[];
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
};

export type LoopResult<P> = {
  params: P;
  opt: AdamWState<P>;
  step: number;
  status: "completed" | "interrupted";
  lastLoss: number;
  lastEval: Record<string, number>;
  trainSeconds: number;
  tokensPerSec: number;
};

export async function trainLoop<P extends JsTree<Array>>(spec: LoopSpec<P>): Promise<LoopResult<P>> {
  const { run, totalSteps, trainStep, rngs } = spec;
  const emit = spec.onProgress ?? (() => {});
  let { params, opt } = spec.init();
  let step = 0;
  let lastEval: Record<string, number> = {};
  const ckFile = run.path("checkpoints", "latest.safetensors");

  // Host values a resume must restore to report the same numbers as an uninterrupted run.
  let lastLoss = NaN;
  let trainSeconds = 0;
  let tokens = 0;
  const config = existsSync(run.path("config.json")) ? run.config<unknown>() : undefined;

  if (spec.resume) {
    const f = latestCheckpoint(run.dir);
    if (f) {
      // Validated completely (header, tensors, finite values, step in range, state, config)
      // before anything of the run is touched; metrics.jsonl is cut only after that.
      const ck = loadCheckpoint(f, { params, opt }, { totalSteps, config });
      params = ck.trees.params;
      opt = ck.trees.opt;
      step = ck.step;
      const saved = (ck.state.rngs ?? {}) as Record<string, RngState>;
      for (const [name, st] of Object.entries(saved)) if (rngs[name]) rngs[name] = new Rng(st);
      lastEval = (ck.state.lastEval ?? {}) as Record<string, number>;
      if (typeof ck.state.lastLoss === "number") lastLoss = ck.state.lastLoss;
      const prior = run.meta().trainSeconds;
      if (typeof prior === "number" && Number.isFinite(prior) && prior >= 0) {
        trainSeconds = prior;
        tokens = step * spec.tokensPerStep;
      }
      run.truncateMetrics(step);
      emit({ kind: "message", text: `resumed from ${f} at step ${step}` });
    } else {
      run.truncateMetrics(0);
      emit({ kind: "message", text: "no checkpoint found: starting from step 0" });
    }
  }
  run.setStatus("running");

  const save = async () => {
    const state = { rngs: Object.fromEntries(Object.entries(rngs).map(([k, r]) => [k, r.state()])), lastEval, ...(Number.isFinite(lastLoss) ? { lastLoss } : {}) };
    await saveCheckpoint(ckFile, { params, opt }, { step, state, totalSteps, config });
    // Training time up to this checkpoint, so a resumed run reports its throughput over all of it.
    run.updateMeta({ trainSeconds });
    emit({ kind: "checkpoint", step, file: ckFile });
  };

  while (step < totalSteps) {
    // Read-backs can resolve as microtasks only (one wasm thread), which would never let the
    // event loop deliver SIGINT/SIGTERM or timers: yield to it once per step.
    await new Promise<void>((r) => setImmediate(r));
    if (spec.signal?.aborted) {
      await save();
      run.setStatus("interrupted", `stopped at step ${step}; continue with --resume ${run.dir}`);
      return { params, opt, step, status: "interrupted", lastLoss, lastEval, trainSeconds, tokensPerSec: tokens / Math.max(trainSeconds, 1e-9) };
    }
    const lr = spec.lr(step);
    const batch = spec.nextBatch(step, rngs);
    const t0 = performance.now();
    const out = trainStep.step(tree.ref(params), tree.ref(opt), batch, lr, step + 1);
    const loss = Number((await out.loss.data())[0]);
    const gradNorm = Number((await out.gradNorm.data())[0]);
    const aux: number[] = [];
    for (const a of out.aux) aux.push(Number((await a.data())[0]));
    if (trainStep.afterStep) await trainStep.afterStep();
    if (!Number.isFinite(loss)) {
      tree.dispose(out.params);
      tree.dispose(out.opt);
      run.setStatus("diverged", `loss ${loss} at step ${step + 1}`);
      throw new DivergedError(step + 1, loss);
    }
    tree.dispose(params);
    tree.dispose(opt);
    params = out.params;
    opt = out.opt;
    const dt = (performance.now() - t0) / 1000;
    trainSeconds += dt;
    tokens += spec.tokensPerStep;
    step += 1;
    lastLoss = loss;
    const row: Record<string, number> = { step, loss, lr, gradNorm };
    (spec.auxNames ?? []).forEach((n, i) => (row[n] = aux[i]));
    emit({ kind: "step", step, total: totalSteps, loss, lr, gradNorm, tokensPerSec: spec.tokensPerStep / Math.max(dt, 1e-9) });
    if (spec.evaluate && (step % spec.evalEvery === 0 || step === totalSteps)) {
      lastEval = await spec.evaluate(params, step);
      Object.assign(row, lastEval);
      emit({ kind: "eval", step, total: totalSteps, metrics: lastEval });
    }
    run.appendMetrics(row);
    if (step % spec.checkpointEvery === 0 || step === totalSteps) await save();
  }
  return { params, opt, step, status: "completed", lastLoss, lastEval, trainSeconds, tokensPerSec: tokens / Math.max(trainSeconds, 1e-9) };
}
