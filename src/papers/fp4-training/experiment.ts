/**
 * `tinyfoundry run fp4-training`: the FP4-training paper's claims at CPU scale (arXiv 2501.17116,
 * the notes' §1.9).
 *
 * (A) Training: the same byte-level GPT (identical init, data order and seed) trained in fp32
 *     and with FP4 linear layers under each arm's switches (W4A4 direct cast; W4A4 + DGE + OCC;
 *     tensor-wise scales; optional DGE-k and OCC-α sweeps with the other operand in FP8).
 *     Training and validation loss curves, final losses and the gap to fp32.
 * (B) The bigram baseline on the same split, for the trained margin the claims are judged against.
 * (C) The Table 1 analogue on the trained fp32 model (`activation-fidelity.ts`).
 * Every arm runs through the foundation `trainLoop` in its own arm directory (resumable, through the
 * runner's `runArm`). The claims are in `claims.ts`; the runner judges them and calls the report.
 */
import { np, crossEntropy, disposeTree, type Array } from "../../engine/index.js";
import { loadCorpus, splitTrainVal } from "../../data/corpus.js";
import { evalBatches, randomCropBatch } from "../../data/batches.js";
import { initLM, lmForward, paramCount, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { bigramLoss } from "../../lm/bigram.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { makeEvalStep, makeTrainStep } from "../../train/step.js";
import { DivergedError, trainLoop, type ProgressEvent } from "../../train/loop.js";
import { latestCheckpoint, loadRunParams } from "../../train/checkpoint.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import { ARM_DESCRIPTIONS, armLinearConfig, type ArmName, type FP4TrainingConfig } from "./config.js";
import { fp4LinearFn } from "./model.js";
import { captureActivations, fidelityTable } from "./activation-fidelity.js";
import { injectIntoRows, injectOutlierChannel, type OutlierInjection } from "./outliers.js";
import type { ArmSummary, FidelityRow, FP4TrainingSummary, MechanismSummary } from "./summary.js";
import { denseLinear } from "../../nn/linear.js";

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

/** The mechanism test's injection for a config (every quantized site). */
export function mechanismInjection(cfg: FP4TrainingConfig): OutlierInjection {
  return { channel: cfg.mechanism.channel, factor: cfg.mechanism.factor, sites: cfg.fp4.sites };
}

/**
 * The config the mechanism arms train with: `mechanism.steps` steps with the same schedule shape
 * (warm-up, cosine to the same floor), evaluated at the end on the same validation batches.
 */
export function mechanismConfig(cfg: FP4TrainingConfig): FP4TrainingConfig {
  const steps = cfg.mechanism.steps;
  const every = Math.min(cfg.train.evalEvery, steps);
  return { ...cfg, train: { ...cfg.train, steps, warmupSteps: Math.min(cfg.train.warmupSteps, Math.max(1, Math.floor(steps / 10))), evalEvery: every, checkpointEvery: Math.min(cfg.train.checkpointEvery, steps) } };
}

/** The directory name of an arm: `fp32`, `fp32-seed1` (a floor seed), `mechanism-w8a4-direct`. */
export function armDirName(arm: ArmName, seed: number, runSeed: number, injected: boolean): string {
  return `${injected ? "mechanism-" : ""}${arm}${seed !== runSeed ? `-seed${seed}` : ""}`;
}

/**
 * Train one arm in its run directory through the foundation loop. `seed` (default: the run's)
 * sets the init and the data order; the train/validation split and the validation batches are
 * the run's in every arm. `injected`: the mechanism test's outlier channel at every quantized site.
 */
export async function trainArm(opts: {
  run: RunDir;
  resume: boolean;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  cfg: FP4TrainingConfig;
  arm: ArmName;
  data: Data;
  seed?: number;
  injected?: boolean;
}): Promise<ArmSummary> {
  const { run, cfg, arm, data } = opts;
  const seed = opts.seed ?? cfg.seed;
  const injected = opts.injected ?? false;
  const model = modelConfig(cfg);
  const tc = cfg.train;
  const B = tc.batchSize;
  const T = model.contextLength;
  const lin = armLinearConfig(arm, cfg.fp4);
  const plainFn = lin ? fp4LinearFn(lin) : undefined;
  const linearFn = injected ? injectOutlierChannel(plainFn ?? denseLinear, mechanismInjection(cfg)) : plainFn;
  const lossFn = (p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, model, x, { linearFn }).logits, y);

  const probe = initLM(model, seed);
  const nParams = paramCount(probe);
  const mask = defaultDecayMask(probe);
  disposeTree(probe);
  const trainStep = makeTrainStep(lossFn, { adamw: { beta1: tc.beta1, beta2: tc.beta2, eps: 1e-8, weightDecay: tc.weightDecay }, clip: tc.clip, decayMask: mask });
  const evalStep = makeEvalStep(lossFn);
  const evalSet = evalBatches(data.val, B, T, tc.evalBatches);
  const toArrays = (b: { x: Int32Array; y: Int32Array }) => [np.array(b.x, { dtype: np.int32 }).reshape([B, T]), np.array(b.y, { dtype: np.int32 }).reshape([B, T])];
  const stepMs: number[] = [];
  /** Validation loss of each evaluation batch, summed in order so that their mean is the logged `valLoss`. */
  const batchLosses = async (params: LMParams) => {
    const out: number[] = [];
    for (const b of evalSet) out.push(Number((await evalStep.evaluate(params, toArrays(b)).data())[0]));
    return out;
  };
  let valBatchLosses: number[] = [];

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
        const params = initLM(model, seed); // the same init in every arm of one seed
        return { params, opt: adamwInit(params) };
      },
      trainStep,
      rngs: { data: Rng.stream(seed, "data") }, // the same batches in every arm of one seed
      nextBatch: (_step, rngs) => toArrays(randomCropBatch(data.train, B, T, rngs.data)),
      lr: (s) => warmupCosine(s, { lr: tc.lr, warmupSteps: tc.warmupSteps, totalSteps: tc.steps, minLrRatio: tc.minLrRatio }),
      tokensPerStep: B * T,
      evalEvery: tc.evalEvery,
      evaluate: async (params) => {
        valBatchLosses = await batchLosses(params);
        return { valLoss: valBatchLosses.reduce((a, b) => a + b, 0) / evalSet.length };
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
    // A resume that found the final evaluation already done scores the batches again (same params).
    if (status === "completed" && valBatchLosses.length === 0) valBatchLosses = await batchLosses(result.params);
    disposeTree(result.params);
    disposeTree(result.opt);
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
    seed,
    injected,
    dir: armDirName(arm, seed, cfg.seed, injected),
    description: injected ? `${ARM_DESCRIPTIONS[arm]}; mechanism test: channel ${cfg.mechanism.channel} x${cfg.mechanism.factor}, weight row /${cfg.mechanism.factor}` : ARM_DESCRIPTIONS[arm],
    status,
    steps,
    divergedAtStep,
    params: nParams,
    finalTrainLoss: tail.length && status !== "diverged" ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN,
    valLoss: status === "diverged" ? NaN : valLoss,
    valBatchLosses: status === "diverged" ? [] : valBatchLosses,
    msPerStep: sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN,
    trainSeconds,
  };
}

/**
 * Run every arm (through the runner's `runArm`: a finished arm is kept, an interrupted one resumes),
 * the fp32 arm again for each floor seed, the mechanism test's arms with the outlier channel; fit
 * the bigram baseline on the same split; then the Table 1 analogue on the fp32 model's activations,
 * as they are and with the outlier channel.
 */
export async function runFP4Training(cfg: FP4TrainingConfig, ctx: ExperimentContext): Promise<FP4TrainingSummary> {
  const data = loadData(cfg);
  const model = modelConfig(cfg);
  const arms: ArmSummary[] = [];
  const train = async (arm: ArmName, seed: number, injected: boolean) => {
    const name = armDirName(arm, seed, cfg.seed, injected);
    const c = injected ? mechanismConfig(cfg) : cfg;
    ctx.log(`arm ${name}: ${ARM_DESCRIPTIONS[arm]}${seed !== cfg.seed ? ` (seed ${seed})` : ""}${injected ? " (mechanism test: outlier channel)" : ""}`);
    const armCfg = { ...c, arms: [arm], armSeed: seed, injected };
    arms.push(await runArm(ctx, name, armCfg, (run, resume) => trainArm({ run, resume, signal: ctx.signal, onProgress: (e) => ctx.onProgress(e, name), cfg: c, arm, data, seed, injected })));
  };
  for (const arm of cfg.arms) await train(arm, cfg.seed, false);
  if (cfg.arms.includes("fp32")) for (const seed of cfg.floorSeeds.filter((x) => x !== cfg.seed)) await train("fp32", seed, false);
  for (const arm of cfg.mechanism.arms) await train(arm, cfg.seed, true);
  // Host arithmetic on the token arrays: no tensor, no random stream, so no trained number moves.
  const bigram = bigramLoss(data.train, data.val, 256);

  let fid: FidelityRow[] | null = null;
  let mechanism: MechanismSummary | null = null;
  const widths = new Set<number>();
  const fp32Dir = ctx.run.path("arms", "fp32");
  if (cfg.fidelity.batches > 0 && cfg.arms.includes("fp32") && latestCheckpoint(fp32Dir)) {
    ctx.log("Table 1 analogue: capturing activations from the fp32 model");
    const params = loadRunParams(fp32Dir, initLM(model, cfg.seed));
    const B = cfg.train.batchSize;
    const batches = evalBatches(data.val, B, model.contextLength, cfg.fidelity.batches).map((b) => b.x);
    const acts = await captureActivations(params, model, cfg.fp4.sites, batches, B);
    disposeTree(params);
    for (const a of acts) widths.add(a.cols);
    fid = await fidelityTable(acts, cfg.fidelity.quantiles, cfg.fp4);
    ctx.log(`mechanism test: the same activations with channel ${cfg.mechanism.channel} x${cfg.mechanism.factor}`);
    const injectedActs = acts.map((a) => injectIntoRows(a, cfg.mechanism));
    mechanism = { factor: cfg.mechanism.factor, channel: cfg.mechanism.channel, fidelity: await fidelityTable(injectedActs, cfg.fidelity.quantiles, cfg.fp4) };
  }

  return {
    arms,
    bigramValLoss: bigram.nll,
    bigramAlpha: bigram.alpha,
    fidelity: fid,
    fidelityWidths: [...widths].sort((a, b) => a - b),
    mechanism,
    trainSecondsAllArms: arms.reduce((s, a) => s + a.trainSeconds, 0),
  };
}
