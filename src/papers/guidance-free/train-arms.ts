/**
 * What every family of the guidance-free experiment shares: one training arm through `trainLoop` (resumable,
 * in `<run>/arms/<arm>/`), the CFG and GFT-from-scratch diffusion arms, loading an arm's model, the guidance a
 * sampler family uses at scale w, and the digit classifier that gives the FID substitute.
 */
import { np, disposeTree, type Array } from "../../engine/index.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { makeTrainStep } from "../../train/step.js";
import { trainLoop } from "../../train/loop.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { loadRunParams } from "../../train/checkpoint.js";
import type { RunDir } from "../../train/run-dir.js";
import { paramCount } from "../../nn/transformer.js";
import { Rng } from "../../util/rng.js";
import type { GuidanceFreeConfig, TrainConfig } from "./config.js";
import { arraysToBatch, batchToArrays, cfgLoss, gftLoss, initDenoiser, makeDiffusionBatch, type DenoiserConfig, type DenoiserParams, type Guidance, type VPSchedule } from "./model.js";
import { accuracyAndConfidence, classifierLoss, initClassifier, makeClassifierEval, type ClassifierConfig, type ClassifierParams } from "./classifier.js";
import type { DigitSet } from "./data.js";
import { frechetDistance, precisionRecall } from "./metrics.js";
import type { Family, ImageMetrics, TrainArmSummary } from "./summary.js";

const lrFn = (t: TrainConfig) => (s: number) => warmupCosine(s, { lr: t.lr, warmupSteps: t.warmupSteps, totalSteps: t.steps, minLrRatio: t.minLrRatio });

/** The final params of a finished arm, shaped like `template` (which is disposed). */
export function loadArm<P>(ctx: ExperimentContext, arm: string, template: P): P {
  return loadRunParams(ctx.run.path("arms", arm), template);
}

export type TrainSpec<P> = {
  train: TrainConfig;
  init: () => P;
  lossFn: (p: P, ...batch: Array[]) => Array;
  nextBatch: (rngs: Record<string, Rng>) => Array[];
  rngNames: string[];
  seed: number;
  tokensPerStep: number;
  extra?: (params: P) => Promise<Record<string, number>>;
  /** Run `extra` every this many steps (default: only at the end) and keep every result in the summary's `evalCurve`. */
  evalEvery?: number;
};

/** Train a model with `spec.lossFn` in arm `arm` through `trainLoop`; returns the arm's summary. */
export async function trainArm<P extends object>(ctx: ExperimentContext, arm: string, armConfig: unknown, spec: TrainSpec<P>): Promise<TrainArmSummary> {
  return runArm(ctx, arm, armConfig, async (run: RunDir, resume: boolean) => {
    const probe = spec.init();
    const mask = defaultDecayMask(probe);
    const nParams = paramCount(probe);
    disposeTree(probe);
    const t = spec.train;
    // The params types have optional fields, which jax-js's JsTree type does not describe: `never` stands for them.
    const trainStep = makeTrainStep<never>(spec.lossFn as never, { adamw: { beta1: t.beta1, beta2: t.beta2, eps: 1e-8, weightDecay: t.weightDecay }, clip: t.clip, decayMask: mask });
    const rngs = Object.fromEntries(spec.rngNames.map((n) => [n, Rng.stream(spec.seed, `${arm}:${n}`)]));
    // Evaluations along the run (a resumed run keeps only those after the resume point).
    const evalCurve: ({ step: number } & Record<string, number>)[] = [];
    const res = await trainLoop<never>({
      run,
      totalSteps: t.steps,
      init: () => {
        const params = spec.init() as never;
        return { params, opt: adamwInit(params) };
      },
      trainStep,
      nextBatch: (_s, r) => spec.nextBatch(r),
      lr: lrFn(t),
      rngs,
      tokensPerStep: spec.tokensPerStep,
      evalEvery: spec.evalEvery ?? t.steps,
      evaluate: spec.extra
        ? async (p, step) => {
            const m = await spec.extra!(p as P);
            evalCurve.push({ step, ...m });
            return m;
          }
        : undefined,
      checkpointEvery: t.checkpointEvery,
      resume,
      signal: ctx.signal,
      onProgress: (e) => ctx.onProgress(e, arm),
    });
    trainStep.dispose();
    disposeTree(res.params);
    disposeTree(res.opt);
    return { arm, steps: res.step, finalLoss: res.lastLoss, trainSeconds: res.trainSeconds, msPerStep: (1000 * res.trainSeconds) / Math.max(res.step, 1), params: nParams, ...res.lastEval, ...(spec.evalEvery ? { evalCurve } : {}) };
  });
}

export type DiffusionMode = "cfg" | "gft";

export function diffusionLoss(mode: DiffusionMode, dcfg: DenoiserConfig, cfg: GuidanceFreeConfig) {
  return (p: DenoiserParams, ...b: Array[]) => (mode === "cfg" ? cfgLoss(p, dcfg, arraysToBatch(b)) : gftLoss(p, dcfg, arraysToBatch(b), { stopGradient: cfg.gft.stopGradient }));
}

/** What a diffusion family trains on: its denoiser, schedule, training settings and data. */
export type DiffusionSetup = {
  prefix: string;
  dcfg: DenoiserConfig;
  schedule: VPSchedule;
  part: { train: TrainConfig; finetune: { steps: number; lr: number } };
  drawX0: (rng: Rng, B: number) => { x0: Float32Array; labels: Int32Array };
};

/** The batch maker and shared training fields of a diffusion family's arms. */
export function diffusionCommon(cfg: GuidanceFreeConfig, s: DiffusionSetup) {
  const cond = { classDropout: cfg.gft.classDropout, minBeta: cfg.gft.minBeta, maxBeta: cfg.gft.maxBeta };
  const B = s.part.train.batchSize;
  const nextBatch = (rngs: Record<string, Rng>) => {
    const { x0, labels } = s.drawX0(rngs.data, B);
    return batchToArrays(makeDiffusionBatch(x0, labels, s.dcfg.dataDim, s.schedule, cond, s.dcfg.numClasses, rngs.noise));
  };
  return { train: s.part.train, nextBatch, rngNames: ["data", "noise"], seed: cfg.seed, tokensPerStep: B };
}

/**
 * The seed of the second, independently trained CFG model (other init and data streams): the floor of every
 * "GFT matches CFG" comparison is the distance between the two CFG models.
 */
export const secondSeed = (seed: number) => seed + 1;
/** Arm name of a family's second CFG model. */
export const cfgSeed2Arm = (prefix: string) => `${prefix}-cfg-seed2`;

/** The two CFG models and GFT from scratch of a diffusion family, equal steps and data stream (per seed). */
export async function trainDiffusionBaseArms(ctx: ExperimentContext, cfg: GuidanceFreeConfig, s: DiffusionSetup): Promise<Record<string, TrainArmSummary>> {
  const common = diffusionCommon(cfg, s);
  const armCfg = { model: s.dcfg, train: s.part.train, gft: cfg.gft };
  const s2 = secondSeed(cfg.seed);
  return {
    cfg: await trainArm<DenoiserParams>(ctx, `${s.prefix}-cfg`, armCfg, { ...common, init: () => initDenoiser(s.dcfg, cfg.seed, "none"), lossFn: diffusionLoss("cfg", s.dcfg, cfg) }),
    cfgSeed2: await trainArm<DenoiserParams>(ctx, cfgSeed2Arm(s.prefix), { ...armCfg, seed: s2 }, { ...common, seed: s2, init: () => initDenoiser(s.dcfg, s2, "none"), lossFn: diffusionLoss("cfg", s.dcfg, cfg) }),
    gftScratch: await trainArm<DenoiserParams>(ctx, `${s.prefix}-gft-scratch`, armCfg, { ...common, init: () => initDenoiser(s.dcfg, cfg.seed, "scratch"), lossFn: diffusionLoss("gft", s.dcfg, cfg) }),
  };
}

/** A trained model of a family with the seed it was trained with. */
export type SeededModel<P> = { family: Family; trainSeed: number; params: P };

/** The two trained CFG models of a diffusion family (first: the config seed). */
export function loadDiffusionCFGs(ctx: ExperimentContext, cfg: GuidanceFreeConfig, prefix: string, dcfg: DenoiserConfig): SeededModel<DenoiserParams>[] {
  const s2 = secondSeed(cfg.seed);
  return [
    { family: "CFG", trainSeed: cfg.seed, params: loadArm(ctx, `${prefix}-cfg`, initDenoiser(dcfg, cfg.seed, "none")) },
    { family: "CFG", trainSeed: s2, params: loadArm(ctx, cfgSeed2Arm(prefix), initDenoiser(dcfg, s2, "none")) },
  ];
}

/** The trained GFT models of a diffusion family (from scratch, then fine-tuned when it was trained). */
export function loadDiffusionGFTs(ctx: ExperimentContext, cfg: GuidanceFreeConfig, prefix: string, dcfg: DenoiserConfig, withFinetune: boolean): SeededModel<DenoiserParams>[] {
  const models: SeededModel<DenoiserParams>[] = [{ family: "GFT scratch", trainSeed: cfg.seed, params: loadArm(ctx, `${prefix}-gft-scratch`, initDenoiser(dcfg, cfg.seed, "scratch")) }];
  if (withFinetune) models.push({ family: "GFT fine-tuned", trainSeed: cfg.seed, params: loadArm(ctx, `${prefix}-gft-finetune`, initDenoiser(dcfg, cfg.seed, "zero")) });
  return models;
}

/** The trained diffusion models of a family, in sampling order (the two CFG models, GFT scratch, GFT fine-tuned). */
export function loadDiffusionModels(ctx: ExperimentContext, cfg: GuidanceFreeConfig, prefix: string, dcfg: DenoiserConfig, withFinetune: boolean): SeededModel<DenoiserParams>[] {
  return [...loadDiffusionCFGs(ctx, cfg, prefix, dcfg), ...loadDiffusionGFTs(ctx, cfg, prefix, dcfg, withFinetune)];
}

/** The guidance a family uses at scale w: CFG two passes at w (w = 1: the conditional model), GFT one pass at β = 1/w. */
export function guidanceFor(family: Family, w: number): Guidance {
  if (family === "CFG" || family === "CFG (resampled)") return w === 1 ? { kind: "cond" } : { kind: "cfg", w };
  return { kind: "gft", beta: 1 / w };
}

/** Labels 0…K−1, `perClass` of each, in class order. */
export const perClassLabels = (K: number, perClass: number) => Int32Array.from({ length: K * perClass }, (_, i) => Math.floor(i / perClass));

// ---------------------------------------------------------------------------------------------
// The classifier of the digit families (FID substitute, IS analogue)
// ---------------------------------------------------------------------------------------------

export async function trainClassifierArm(ctx: ExperimentContext, cfg: GuidanceFreeConfig, arm: string, ccfg: ClassifierConfig, train: TrainConfig, data: { train: DigitSet; val: DigitSet }) {
  const d = ccfg.inputDim;
  const B = train.batchSize;
  const evalFn = makeClassifierEval(ccfg);
  const s = await trainArm<ClassifierParams>(ctx, arm, { classifier: ccfg, train }, {
    train,
    init: () => initClassifier(ccfg, cfg.seed),
    lossFn: (p, x, y) => classifierLoss(p, x, y),
    nextBatch: (rngs) => {
      const x = new Float32Array(B * d);
      const y = new Int32Array(B);
      for (let i = 0; i < B; i++) {
        const j = rngs.data.int(data.train.labels.length);
        x.set(data.train.images.subarray(j * d, (j + 1) * d), i * d);
        y[i] = data.train.labels[j];
      }
      return [np.array(x).reshape([B, d]), np.array(y, { dtype: np.int32 })];
    },
    rngNames: ["data"],
    seed: cfg.seed,
    tokensPerStep: B,
    extra: async (p) => {
      const { probs } = await evalFn.run(p, data.val.images);
      return { valAccuracy: accuracyAndConfidence(probs, data.val.labels, ccfg.numClasses).accuracy };
    },
  });
  evalFn.dispose();
  return s;
}

/** Classifier metrics of generated images [n·d] in [0, 1] against the real validation set. */
export async function imageMetrics(
  p: ClassifierParams,
  ccfg: ClassifierConfig,
  evalFn: ReturnType<typeof makeClassifierEval>,
  images: Float32Array,
  labels: Int32Array,
  realFeatures: Float32Array,
  k: number,
): Promise<ImageMetrics> {
  const { features, probs } = await evalFn.run(p, images);
  const ac = accuracyAndConfidence(probs, labels, ccfg.numClasses);
  const pr = precisionRecall(realFeatures, features, ccfg.featureDim, k);
  return { accuracy: ac.accuracy, confidence: ac.confidence, precision: pr.precision, recall: pr.recall, fd: frechetDistance(features, realFeatures, ccfg.featureDim) };
}

/** A balanced subset (first `perClass` of each class) of a digit set, in class order. */
export function balancedSubset(set: DigitSet, K: number, perClass: number): { images: Float32Array; labels: Int32Array } {
  const d = set.side * set.side;
  const idx: number[] = [];
  for (let k = 0; k < K; k++) {
    let c = 0;
    for (let i = 0; i < set.labels.length && c < perClass; i++) {
      if (set.labels[i] === k) {
        idx.push(i);
        c++;
      }
    }
  }
  const images = new Float32Array(idx.length * d);
  idx.forEach((j, i) => images.set(set.images.subarray(j * d, (j + 1) * d), i * d));
  return { images, labels: Int32Array.from(idx.map((j) => set.labels[j])) };
}
