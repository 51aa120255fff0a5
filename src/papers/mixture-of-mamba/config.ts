/** Typed config, schema and presets of the Mixture-of-Mamba experiment (`tinyfoundry run mixture-of-mamba`). */
import { z } from "zod";
import { zodParts } from "../../train/config.js";

/**
 * Arms: the dense Mamba baseline, MoM with all four projections split, the parameter-matched
 * control `mom-shuffled` (mom-all's experts, each token routed by a modality id shuffled within its
 * batch), the four single-split ablations, and a transformer of about the same size as a reference
 * line.
 */
export const ARMS = ["dense", "mom-all", "mom-shuffled", "mom-in", "mom-x", "mom-dt", "mom-out", "transformer"] as const;
export type ArmName = (typeof ARMS)[number];

export const momSchema = z
  .object({
    seed: zodParts.seed,
    model: z
      .object({
        /** Residual width D. */
        dModel: zodParts.posInt,
        /** Layers; each holds `blocksPerLayer` Mamba blocks (2 in the paper's stack). */
        nLayers: zodParts.posInt,
        blocksPerLayer: zodParts.posInt,
        /** SSM state N, conv width, expansion E/D, Δ rank ("auto" = ceil(D/16)). */
        dState: zodParts.posInt,
        dConv: zodParts.posInt,
        expand: z.number().positive(),
        dtRank: z.union([z.literal("auto"), zodParts.posInt]),
        /** Chunk length of the chunked selective scan. */
        scanChunk: zodParts.posInt,
        /** Sequence length T. */
        contextLength: zodParts.posInt,
      })
      .strict(),
    /** The transformer reference arm (same D, layers, context; RMSNorm, RoPE, SwiGLU). */
    transformer: z.object({ nHeads: zodParts.posInt, mlpRatio: z.number().positive() }).strict(),
    data: z
      .object({
        corpus: zodParts.corpus,
        file: zodParts.textFile,
        valFraction: zodParts.valFraction,
        codebookSize: z.number().int().min(2).max(1024),
        vqImages: zodParts.posInt,
        vqIters: zodParts.posInt,
        imagesPerSeq: z.number().int().min(1),
      })
      .strict(),
    train: zodParts.optim,
    arms: z.array(z.enum(ARMS)).min(1),
    /**
     * Independently trained seeds (init and data order: seed, seed + 1, ...) of `seededArms`; the
     * other arms train at `seed` only. Two dense seeds give the claims their noise floor.
     */
    seeds: zodParts.posInt,
    seededArms: z.array(z.enum(ARMS)),
    /** Trailing moving-average window, as a fraction of the steps, used to smooth training losses. */
    smoothFraction: z.number().gt(0).max(0.5),
  })
  .strict()
  .refine((c) => c.arms.includes("dense"), { message: 'arms must include "dense" (the baseline every metric compares with)', path: ["arms"] });

export type MoMConfig = z.infer<typeof momSchema>;

/** The run directory of an arm at a seed (under `<run>/arms/`): the arm's name at the config seed, `<arm>-s<seed>` at the others. */
export const armRunName = (arm: string, seed: number, cfg: Pick<MoMConfig, "seed">) => (seed === cfg.seed ? arm : `${arm}-s${seed}`);

const base: MoMConfig = {
  seed: 0,
  model: { dModel: 32, nLayers: 2, blocksPerLayer: 2, dState: 16, dConv: 4, expand: 2, dtRank: "auto", scanChunk: 16, contextLength: 112 },
  transformer: { nHeads: 4, mlpRatio: 8 / 3 },
  data: { corpus: "moby-dick", file: null, valFraction: 0.1, codebookSize: 32, vqImages: 1000, vqIters: 10, imagesPerSeq: 1 },
  train: {
    steps: 400,
    batchSize: 8,
    lr: 3e-3,
    warmupSteps: 20,
    minLrRatio: 0.1,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    clip: 1,
    evalEvery: 200,
    evalBatches: 16,
    checkpointEvery: 200,
  },
  // The arms the claims rest on; the single-split ablations and the transformer are optional at quick (README).
  arms: ["dense", "mom-all", "mom-shuffled"],
  seeds: 2,
  seededArms: ["dense", "mom-all", "mom-shuffled"],
  smoothFraction: 0.05,
};

/** `tiny` for tests (seconds), `quick` the reproduction (minutes on 2 cores), `full` for serious runs. */
export const momPresets: Record<"tiny" | "quick" | "full", MoMConfig> = {
  tiny: {
    ...base,
    model: { ...base.model, dModel: 16, nLayers: 1, dState: 4, scanChunk: 8, contextLength: 56 },
    transformer: { nHeads: 2, mlpRatio: 8 / 3 },
    data: { ...base.data, codebookSize: 8, vqImages: 50, vqIters: 3, imagesPerSeq: 1 },
    train: { ...base.train, steps: 8, batchSize: 2, warmupSteps: 2, evalEvery: 4, evalBatches: 2, checkpointEvery: 4 },
    arms: ["dense", "mom-all", "mom-shuffled", "transformer"],
    seededArms: ["dense"],
    smoothFraction: 0.25,
  },
  // Six Mamba runs of 400 steps (dense, mom-all and mom-shuffled at two seeds each): pilots and
  // sizing in the README; about 8 minutes on an idle 2-core machine.
  quick: base,
  full: {
    ...base,
    model: { ...base.model, dModel: 64, nLayers: 3, contextLength: 256 },
    data: { ...base.data, vqImages: 3000, vqIters: 20, imagesPerSeq: 2 },
    train: { ...base.train, steps: 1500, lr: 2e-3, batchSize: 8, warmupSteps: 75, evalEvery: 150, evalBatches: 32, checkpointEvery: 150 },
    arms: [...ARMS],
    seeds: 3,
    seededArms: ["dense", "mom-all", "mom-shuffled"],
    smoothFraction: 0.03,
  },
};
