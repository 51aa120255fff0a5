/**
 * Config, schema and presets of the guidance-free experiment (`tinyfoundry run guidance-free`).
 * Three parts, each switchable: 2-D Gaussian mixtures (the spec's main CPU test), MNIST digits with a diffusion
 * MLP denoiser, and the autoregressive (token) variant on smaller quantized digits.
 */
import { z } from "zod";
import { zodParts } from "../../train/config.js";

const posInt = zodParts.posInt;

/** The shared optimiser schema without the LM loop's evaluation fields (the arms evaluate at the end). */
const trainSchema = zodParts.optim.omit({ evalEvery: true, evalBatches: true });

const finetuneSchema = z
  .object({
    /** GFT fine-tuning steps starting from the trained CFG model (0 = no fine-tuning arm). */
    steps: z.number().int().min(0),
    lr: z.number().positive().max(1),
  })
  .strict();

const guidanceList = z.array(z.number().min(1)).min(1).refine((ws) => ws[0] === 1, { message: "the first guidance scale must be 1 (no guidance)" });

const diffusionModel = z.object({ hidden: posInt, depth: posInt, freqDim: posInt.refine((v) => v % 2 === 0, { message: "must be even" }) }).strict();

const classifierSchema = z.object({ hidden: posInt, featureDim: posInt, train: trainSchema }).strict();

const digitClasses = z.array(z.number().int().min(0).max(9)).min(2);

export const guidanceFreeSchema = z
  .object({
    seed: zodParts.seed,
    /** GFT options (official-code defaults: dropout 0.1, β ~ U(0, 1), stop-gradient on the unconditional pass). */
    gft: z
      .object({
        classDropout: z.number().min(0).max(1),
        minBeta: z.number().min(0).max(1),
        maxBeta: z.number().gt(0).max(1),
        /** Ablation switch: false lets gradients flow through the unconditional pass. */
        stopGradient: z.boolean(),
      })
      .strict()
      .refine((g) => g.minBeta <= g.maxBeta, { message: "gft.minBeta must be <= gft.maxBeta", path: ["minBeta"] }),
    mixture: z
      .object({
        enabled: z.boolean(),
        data: z.object({ classes: z.number().int().min(2), componentsPerClass: posInt, radius: z.number().positive(), spread: z.number().min(0), std: z.number().positive() }).strict(),
        model: diffusionModel,
        scheduleSteps: z.number().int().min(2),
        train: trainSchema,
        finetune: finetuneSchema,
        /** Fixed inputs (x_t, t, c) of the noise-free functional test. */
        functionalInputs: z.number().int().min(2),
        sample: z.object({ perClass: z.number().int().min(8), ddimSteps: posInt, guidance: guidanceList }).strict(),
        metrics: z.object({ mmdBandwidths: z.array(z.number().positive()).min(1), knnK: posInt, gridSize: z.number().int().min(16), gridExtent: z.number().positive() }).strict(),
      })
      .strict(),
    digits: z
      .object({
        enabled: z.boolean(),
        side: z.number().int().min(4).max(28),
        classes: digitClasses,
        valFraction: z.number().gt(0).lt(0.5),
        model: diffusionModel,
        scheduleSteps: z.number().int().min(2),
        train: trainSchema,
        finetune: finetuneSchema,
        /** Fixed inputs (x_t, t, c) of the noise-free functional test. */
        functionalInputs: z.number().int().min(2),
        classifier: classifierSchema,
        sample: z.object({ perClass: z.number().int().min(8), ddimSteps: posInt, guidance: guidanceList, clipX0: z.number().positive() }).strict(),
        knnK: posInt,
      })
      .strict(),
    ar: z
      .object({
        enabled: z.boolean(),
        side: z.number().int().min(4).max(14),
        levels: z.number().int().min(2).max(16),
        classes: digitClasses,
        valFraction: z.number().gt(0).lt(0.5),
        model: z.object({ dModel: posInt, nLayers: posInt, nHeads: posInt, freqDim: posInt }).strict().refine((m) => m.dModel % m.nHeads === 0, { message: "ar.model.dModel must be divisible by nHeads", path: ["nHeads"] }),
        train: trainSchema,
        finetune: finetuneSchema,
        /** Held-out sequences (balanced over classes) of the per-token KL test. */
        functionalInputs: z.number().int().min(2),
        classifier: classifierSchema,
        sample: z.object({ perClass: z.number().int().min(8), guidance: guidanceList }).strict(),
        knnK: posInt,
      })
      .strict(),
  })
  .strict();

export type GuidanceFreeConfig = z.infer<typeof guidanceFreeSchema>;
export type TrainConfig = z.infer<typeof trainSchema>;

const train = (steps: number, batchSize: number, lr: number, extra: Partial<TrainConfig> = {}): TrainConfig => ({
  steps,
  batchSize,
  lr,
  warmupSteps: Math.min(100, Math.floor(steps / 10)),
  minLrRatio: 0.1,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.99,
  clip: 1,
  checkpointEvery: Math.max(1, Math.floor(steps / 2)),
  ...extra,
});

const ALL_DIGITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/**
 * `quick` is the reproduction (sized for about 7 minutes on an idle 2-core machine from the measured step times;
 * the README's sizing): in every family two CFG models (seeds s and s + 1: the floor), GFT from scratch and GFT
 * fine-tuned from the first CFG model at its pre-training rate. The 2-D mixtures in full (8 classes, 3 components
 * each, w ∈ {1, 1.5, 2, 3, 5}, fine-tuning 1,000 steps = 67 % of pre-training, its curve every 1 %); digits
 * average-pooled to 14×14 with a 2-block residual MLP denoiser (not a U-Net), 2,000 steps (twice the earlier
 * preset, whose guidance benefit was at the noise); the AR variant on 8×8 digits with 4 grey levels (64 tokens)
 * and a 2-layer d=64 transformer at 400 steps (pilots: 3x longer training did not lift its guidance benefit above
 * the FD noise). `tiny` only checks the plumbing.
 */
const quick: GuidanceFreeConfig = {
  seed: 0,
  gft: { classDropout: 0.1, minBeta: 0, maxBeta: 1, stopGradient: true },
  mixture: {
    enabled: true,
    data: { classes: 8, componentsPerClass: 3, radius: 2, spread: 0.3, std: 0.22 },
    model: { hidden: 128, depth: 3, freqDim: 64 },
    scheduleSteps: 1000,
    train: train(1500, 256, 2e-3),
    finetune: { steps: 1000, lr: 2e-3 },
    functionalInputs: 2048,
    sample: { perClass: 200, ddimSteps: 20, guidance: [1, 1.5, 2, 3, 5] },
    metrics: { mmdBandwidths: [0.1, 0.25, 0.5], knnK: 3, gridSize: 120, gridExtent: 3.5 },
  },
  digits: {
    enabled: true,
    side: 14,
    classes: ALL_DIGITS,
    valFraction: 0.1,
    model: { hidden: 256, depth: 2, freqDim: 64 },
    scheduleSteps: 1000,
    train: train(2000, 64, 2e-3),
    finetune: { steps: 300, lr: 2e-3 },
    functionalInputs: 500,
    classifier: { hidden: 128, featureDim: 32, train: train(300, 64, 2e-3) },
    sample: { perClass: 60, ddimSteps: 20, guidance: [1, 1.5, 2, 3], clipX0: 1 },
    knnK: 3,
  },
  ar: {
    enabled: true,
    side: 8,
    levels: 4,
    classes: ALL_DIGITS,
    valFraction: 0.1,
    model: { dModel: 64, nLayers: 2, nHeads: 4, freqDim: 64 },
    train: train(400, 32, 3e-3),
    finetune: { steps: 100, lr: 3e-3 },
    functionalInputs: 200,
    classifier: { hidden: 128, featureDim: 32, train: train(300, 64, 2e-3) },
    sample: { perClass: 60, guidance: [1, 1.25, 1.5, 2] },
    knnK: 3,
  },
};

const tiny: GuidanceFreeConfig = {
  ...quick,
  mixture: {
    ...quick.mixture,
    model: { hidden: 32, depth: 1, freqDim: 16 },
    scheduleSteps: 100,
    train: train(30, 64, 2e-3),
    finetune: { steps: 6, lr: 2e-3 },
    functionalInputs: 64,
    sample: { perClass: 12, ddimSteps: 4, guidance: [1, 3] },
    metrics: { ...quick.mixture.metrics, gridSize: 40 },
  },
  digits: {
    ...quick.digits,
    side: 7,
    classes: [0, 1],
    model: { hidden: 32, depth: 1, freqDim: 16 },
    scheduleSteps: 100,
    train: train(12, 16, 2e-3),
    finetune: { steps: 4, lr: 2e-3 },
    functionalInputs: 16,
    classifier: { hidden: 16, featureDim: 8, train: train(10, 32, 2e-3) },
    sample: { perClass: 12, ddimSteps: 3, guidance: [1, 3], clipX0: 1 },
  },
  ar: {
    ...quick.ar,
    side: 4,
    levels: 2,
    classes: [0, 1],
    model: { dModel: 16, nLayers: 1, nHeads: 2, freqDim: 16 },
    train: train(8, 8, 3e-3),
    finetune: { steps: 3, lr: 3e-3 },
    functionalInputs: 8,
    classifier: { hidden: 16, featureDim: 8, train: train(10, 32, 2e-3) },
    sample: { perClass: 10, guidance: [1, 3] },
  },
};

/** `full`: bigger models and longer runs (not run by us; hours on a CPU). */
const full: GuidanceFreeConfig = {
  ...quick,
  mixture: {
    ...quick.mixture,
    model: { hidden: 256, depth: 3, freqDim: 128 },
    train: train(20000, 512, 1e-3),
    finetune: { steps: 1000, lr: 1e-3 },
    sample: { ...quick.mixture.sample, perClass: 1000, ddimSteps: 50 },
    metrics: { ...quick.mixture.metrics, gridSize: 200 },
  },
  digits: {
    ...quick.digits,
    model: { hidden: 768, depth: 4, freqDim: 128 },
    train: train(30000, 128, 1e-3),
    finetune: { steps: 1500, lr: 1e-3 },
    classifier: { ...quick.digits.classifier, hidden: 256, featureDim: 64, train: train(2000, 128, 1e-3) },
    sample: { ...quick.digits.sample, perClass: 500, ddimSteps: 50, guidance: [1, 1.5, 2, 3, 4, 5] },
  },
  ar: {
    ...quick.ar,
    side: 14,
    model: { dModel: 128, nLayers: 4, nHeads: 4, freqDim: 128 },
    train: train(10000, 64, 1e-3),
    finetune: { steps: 500, lr: 1e-3 },
    classifier: { ...quick.ar.classifier, hidden: 256, featureDim: 64, train: train(2000, 128, 1e-3) },
    sample: { perClass: 200, guidance: [1, 1.5, 2, 3, 4] },
  },
};

export const guidanceFreePresets: Record<"tiny" | "quick" | "full", GuidanceFreeConfig> = { tiny, quick, full };
