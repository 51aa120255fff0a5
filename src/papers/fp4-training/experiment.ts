/**
 * `tinyfoundry run fp4-training`: the FP4-training paper's claims at CPU scale (arXiv 2501.17116,
 * the notes' §1.9).
 *
 * (A) Training: the same byte-level GPT (identical init, data order and seed) trained in fp32
 *     and with FP4 linear layers under each arm's switches (W4A4 direct cast; W4A4 + DGE + OCC;
 *     tensor-wise scales; optional DGE-k and OCC-α sweeps with the other operand in FP8).
 *     Training and validation loss curves, final losses and the gap to fp32.
 * (B) The Table 1 analogue: activations entering the quantized linears, captured from the trained
 *     fp32 model, quantized with no clamp, clamp only and clamp + compensation at several α;
 *     SIM / MSE / SNR averaged over the tensors.
 * Every arm runs through the foundation `trainLoop` in its own arm directory (resumable).
 */
import { existsSync } from "node:fs";
import { np, jit, tree, crossEntropy, type Array, type JsTree } from "../../engine/index.js";
import { loadCorpus, splitTrainVal } from "../../data/corpus.js";
import { evalBatches, randomCropBatch } from "../../data/batches.js";
import { linear, type LinearFn } from "../../nn/linear.js";
import { initLM, lmForward, paramCount, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { makeEvalStep, makeTrainStep } from "../../train/step.js";
import { DivergedError, trainLoop, type ProgressEvent } from "../../train/loop.js";
import { latestCheckpoint, loadCheckpoint } from "../../train/checkpoint.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import { ARM_DESCRIPTIONS, armLinearConfig, type ArmName, type FP4TrainingConfig } from "./config.js";
import { fp4LinearFn, fp4Quantize, quantileClamp, type ClampMode } from "./model.js";
import { fidelity, nonzeroFraction } from "./metrics.js";
import { judge, writeFP4Report, type Verdict } from "./report.js";

export type ArmSummary = {
  [k: string]: unknown;
  arm: ArmName;
  description: string;
  status: "completed" | "interrupted" | "diverged";
  steps: number;
  /** Step at which the loss became NaN/Inf (diverged arms only). */
  divergedAtStep: number | null;
  params: number;
  /** Mean training loss over the last 10% of steps (nats/byte). */
  finalTrainLoss: number;
  /** Validation loss at the end (nats/byte), with the arm's own (FP4) forward. */
  valLoss: number;
  /** Median wall-clock ms per training step after the first 3 (this invocation, this machine). */
  msPerStep: number;
  trainSeconds: number;
};

export type FidelityRow = {
  clamp: boolean;
  compensate: boolean;
  /** α of the clamp (null without one). */
  quantile: number | null;
  /** Means over the captured activation tensors. */
  sim: number;
  mse: number;
  snrDb: number;
  /** Fraction of non-zero entries of the clamp residual ΔA (0 without a clamp). */
  residualDensity: number;
  tensors: number;
  /** Scales per token (the paper's Table 1) or one per tensor (an extra row). */
  granularity: "token" | "tensor";
  /** A row the paper's Table 1 does not have. */
  extra: boolean;
};

export type FP4TrainingSummary = {
  [k: string]: unknown;
  status: "completed" | "interrupted";
  arms: ArmSummary[];
  /** The Table 1 analogue (null when the fp32 arm is not run or `fidelity.batches` is 0). */
  fidelity: FidelityRow[] | null;
  /** The widths c of the captured activation rows (the clamp's quantile index depends on them). */
  fidelityWidths: number[];
  verdicts: Verdict[];
  /** Wall time of the experiment, summed over its invocations (`--resume` adds what it redid). */
  wallSeconds: number;
  /** Sum of the arms' training-step time (excludes evaluation and compilation). */
  trainSecondsAllArms: number;
};

type Data = { train: Int32Array; val: Int32Array };

/** Byte-level data: the corpus (or the user's file) split by blocks from the seed. */
export function loadData(cfg: FP4TrainingConfig): Data {
  const corpus = loadCorpus({ name: cfg.data.corpus, file: cfg.data.file ?? undefined });
  const bytes = Int32Array.from(new TextEncoder().encode(corpus.text));
  const { train, val } = splitTrainVal(bytes, { valFraction: cfg.data.valFraction, seed: cfg.seed });
  return { train, val };
}

/** The model config (bytes: vocabulary 256). */
export function modelConfig(cfg: FP4TrainingConfig): LMConfig {
  return { ...cfg.model, vocabSize: 256 };
}

/** Train one arm in its run directory through the foundation loop. */
export async function trainArm(opts: {
  run: RunDir;
  resume: boolean;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  cfg: FP4TrainingConfig;
  arm: ArmName;
  data: Data;
}): Promise<ArmSummary> {
  const { run, cfg, arm, data } = opts;
  const model = modelConfig(cfg);
  const tc = cfg.train;
  const B = tc.batchSize;
  const T = model.contextLength;
  const lin = armLinearConfig(arm, cfg.fp4);
  const linearFn = lin ? fp4LinearFn(lin) : undefined;
  const lossFn = (p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, model, x, { linearFn }).logits, y);

  const probe = initLM(model, cfg.seed);
  const nParams = paramCount(probe);
  const mask = defaultDecayMask(probe);
  tree.dispose(probe as unknown as JsTree<Array>);
  const trainStep = makeTrainStep(lossFn, { adamw: { beta1: tc.beta1, beta2: tc.beta2, eps: 1e-8, weightDecay: tc.weightDecay }, clip: tc.clip, decayMask: mask });
  const evalStep = makeEvalStep(lossFn);
  const evalSet = evalBatches(data.val, B, T, tc.evalBatches);
  const toArrays = (b: { x: Int32Array; y: Int32Array }) => [np.array(b.x, { dtype: np.int32 }).reshape([B, T]), np.array(b.y, { dtype: np.int32 }).reshape([B, T])];
  const stepMs: number[] = [];

  let status: ArmSummary["status"] = "completed";
  let divergedAtStep: number | null = null;
  let steps = tc.steps;
  let valLoss = NaN;
  let trainSeconds = 0;
  try {
    const result = await trainLoop<LMParams>({
      run,
      totalSteps: tc.steps,
      init: () => {
        const params = initLM(model, cfg.seed); // the same init in every arm
        return { params, opt: adamwInit(params) };
      },
      trainStep,
      rngs: { data: Rng.stream(cfg.seed, "data") }, // the same batches in every arm
      nextBatch: (_step, rngs) => toArrays(randomCropBatch(data.train, B, T, rngs.data)),
      lr: (s) => warmupCosine(s, { lr: tc.lr, warmupSteps: tc.warmupSteps, totalSteps: tc.steps, minLrRatio: tc.minLrRatio }),
      tokensPerStep: B * T,
      evalEvery: tc.evalEvery,
      evaluate: async (params) => {
        let s = 0;
        for (const b of evalSet) s += Number((await evalStep.evaluate(params, toArrays(b)).data())[0]);
        return { valLoss: s / evalSet.length };
      },
      checkpointEvery: tc.checkpointEvery,
      resume: opts.resume,
      signal: opts.signal,
      onProgress: (e) => {
        if (e.kind === "step") stepMs.push((B * T * 1000) / e.tokensPerSec);
        opts.onProgress?.(e);
      },
    });
    status = result.status;
    steps = result.step;
    valLoss = result.lastEval.valLoss ?? NaN;
    trainSeconds = result.trainSeconds;
    tree.dispose(result.params as unknown as JsTree<Array>);
    tree.dispose(result.opt as unknown as JsTree<Array>);
  } catch (e) {
    if (!(e instanceof DivergedError)) throw e;
    // A NaN loss is a result here (the paper's W8A4 direct cast diverges at 1.3B).
    status = "diverged";
    divergedAtStep = e.step;
    steps = e.step - 1;
    opts.onProgress?.({ kind: "message", text: `arm ${arm}: diverged at step ${e.step} (kept as a result)` });
  } finally {
    trainStep.dispose();
    evalStep.dispose();
  }

  const rows = run.metrics<Record<string, number>>().filter((r) => typeof r.loss === "number");
  const tail = rows.slice(Math.floor(rows.length * 0.9)).map((r) => r.loss);
  const sorted = stepMs.slice(3).sort((a, b) => a - b);
  return {
    arm,
    description: ARM_DESCRIPTIONS[arm],
    status,
    steps,
    divergedAtStep,
    params: nParams,
    finalTrainLoss: tail.length && status !== "diverged" ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN,
    valLoss: status === "diverged" ? NaN : valLoss,
    msPerStep: sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN,
    trainSeconds,
  };
}

type FidelitySetting = { clamp: ClampMode; quantile: number | null; extra: boolean; granularity: "token" | "tensor" };

/**
 * The rows of the Table 1 analogue: the paper's (no clamp, clamp only at the first α, clamp +
 * compensation at each α, all with per-token scales), then two extra rows not in the paper:
 * clamp only at the second α (0.99), because clamp only at 0.999 is a no-op for rows shorter
 * than 1,000, and one scale per tensor without a clamp (the granularity ablation's activations).
 */
export function fidelitySettings(quantiles: number[]): FidelitySetting[] {
  const rows: FidelitySetting[] = [
    { clamp: "none", quantile: null, extra: false, granularity: "token" },
    { clamp: "clamp", quantile: quantiles[0], extra: false, granularity: "token" },
    ...quantiles.map((q) => ({ clamp: "compensate" as ClampMode, quantile: q, extra: false, granularity: "token" as const })),
  ];
  if (quantiles.length > 1 && quantiles[1] !== quantiles[0]) rows.push({ clamp: "clamp", quantile: quantiles[1], extra: true, granularity: "token" });
  rows.push({ clamp: "none", quantile: null, extra: true, granularity: "tensor" });
  return rows;
}

/**
 * Capture the activations entering every quantizable linear (the A operands) of a model on some
 * batches: a list of [N, C] row-major Float32Arrays. Params are not consumed.
 */
export async function captureActivations(params: LMParams, model: LMConfig, sites: readonly string[], batches: Int32Array[], B: number): Promise<{ data: Float32Array; rows: number; cols: number }[]> {
  const T = model.contextLength;
  const out: { data: Float32Array; rows: number; cols: number }[] = [];
  for (const x of batches) {
    const captured: Array[] = [];
    const capture: LinearFn = (p, a, site) => {
      if (sites.includes(site)) captured.push(a.ref);
      return linear(p, a);
    };
    const { logits } = lmForward(tree.ref(params as unknown as JsTree<Array>) as unknown as LMParams, model, np.array(x, { dtype: np.int32 }).reshape([B, T]), { linearFn: capture });
    logits.dispose();
    for (const a of captured) {
      const cols = a.shape[a.ndim - 1];
      const data = (await a.data()) as Float32Array;
      out.push({ data, rows: data.length / cols, cols });
    }
  }
  return out;
}

/**
 * Table 1 analogue over captured activations: each tensor is quantized token-wise (E2M1, absmax
 * per token, as in training) under each setting; SIM, MSE, SNR and the residual density are
 * averaged over the tensors.
 */
export async function fidelityTable(acts: { data: Float32Array; rows: number; cols: number }[], quantiles: number[], fp4: FP4TrainingConfig["fp4"]): Promise<FidelityRow[]> {
  const rows: FidelityRow[] = [];
  for (const s of fidelitySettings(quantiles)) {
    const f = jit((x: Array) => {
      const q = fp4Quantize(x.ref, { format: fp4.format, granularity: s.granularity, pow2Scale: fp4.pow2Scale, clamp: s.clamp, quantile: s.quantile ?? 0.99, clampAxis: "token" });
      q.scaled.dispose();
      q.scale.dispose();
      const residual = s.clamp === "none" ? np.zerosLike(x) : quantileClamp(x, s.quantile!, "token").residual;
      return [q.value, residual];
    });
    let sim = 0;
    let mse = 0;
    let snr = 0;
    let dens = 0;
    for (const a of acts) {
      const [v, r] = f(np.array(a.data).reshape([a.rows, a.cols])) as unknown as [Array, Array];
      const q = (await v.data()) as Float32Array;
      const res = (await r.data()) as Float32Array;
      const fi = fidelity(a.data, q);
      sim += fi.sim;
      mse += fi.mse;
      snr += fi.snrDb;
      dens += nonzeroFraction(res);
    }
    f.dispose();
    const n = acts.length;
    rows.push({ clamp: s.clamp !== "none", compensate: s.clamp === "compensate", quantile: s.quantile, granularity: s.granularity, sim: sim / n, mse: mse / n, snrDb: snr / n, residualDensity: dens / n, tensors: n, extra: s.extra });
  }
  return rows;
}

/** Run every arm, then the Table 1 analogue, then the report. */
export async function runFP4Training(cfg: FP4TrainingConfig, ctx: ExperimentContext): Promise<FP4TrainingSummary> {
  const t0 = Date.now();
  // Wall time over invocations: a resumed run adds to what the earlier ones spent (also when
  // this one is interrupted).
  const wallFile = "wall.json";
  const before = existsSync(ctx.run.path(wallFile)) ? ctx.run.readJson<{ seconds: number }>(wallFile).seconds : 0;
  const saveWall = () => {
    const seconds = before + (Date.now() - t0) / 1000;
    ctx.run.writeJson(wallFile, { seconds });
    return seconds;
  };
  try {
    return await runAll(cfg, ctx, saveWall);
  } finally {
    saveWall();
  }
}

async function runAll(cfg: FP4TrainingConfig, ctx: ExperimentContext, saveWall: () => number): Promise<FP4TrainingSummary> {
  const data = loadData(cfg);
  const model = modelConfig(cfg);
  const arms: ArmSummary[] = [];
  let interrupted = false;
  for (const arm of cfg.arms) {
    if (ctx.signal.aborted) {
      interrupted = true;
      break;
    }
    ctx.log(`arm ${arm}: ${ARM_DESCRIPTIONS[arm]}`);
    const s = await runArm(ctx, arm, { ...cfg, arms: [arm] }, (run, resume) =>
      trainArm({ run, resume, signal: ctx.signal, onProgress: (e) => ctx.onProgress(e, arm), cfg, arm, data }),
    );
    arms.push(s);
    if (s.status === "interrupted") {
      interrupted = true;
      break;
    }
  }

  let fid: FidelityRow[] | null = null;
  const widths = new Set<number>();
  const fp32Ck = latestCheckpoint(ctx.run.path("arms", "fp32"));
  if (!interrupted && cfg.fidelity.batches > 0 && cfg.arms.includes("fp32") && fp32Ck && existsSync(fp32Ck)) {
    ctx.log("Table 1 analogue: capturing activations from the fp32 model");
    const template = initLM(model, cfg.seed);
    const ck = loadCheckpoint(fp32Ck, { params: template, opt: adamwInit(template) });
    const B = cfg.train.batchSize;
    const batches = evalBatches(data.val, B, model.contextLength, cfg.fidelity.batches).map((b) => b.x);
    const acts = await captureActivations(ck.trees.params, model, cfg.fp4.sites, batches, B);
    tree.dispose(ck.trees as unknown as JsTree<Array>);
    for (const a of acts) widths.add(a.cols);
    fid = await fidelityTable(acts, cfg.fidelity.quantiles, cfg.fp4);
  }

  const wallSeconds = saveWall();
  const summary: FP4TrainingSummary = {
    status: interrupted ? "interrupted" : "completed",
    arms,
    fidelity: fid,
    fidelityWidths: [...widths].sort((a, b) => a - b),
    verdicts: judge(arms, fid, [...widths]),
    wallSeconds,
    trainSecondsAllArms: arms.reduce((s, a) => s + a.trainSeconds, 0),
  };
  ctx.run.writeSummary(summary);
  if (!interrupted) await writeFP4Report(ctx.run, cfg, summary);
  return summary;
}
