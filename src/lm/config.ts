/** The language-model experiment's typed config, presets and schema (`tinyfoundry train lm`). */
import { z } from "zod";
import { zodParts } from "../train/config.js";
import { defaultLMConfig } from "../nn/transformer.js";

export const lmExperimentSchema = z
  .object({
    seed: zodParts.seed,
    model: zodParts.lmModel,
    data: z
      .object({
        corpus: zodParts.corpus,
        /** A user text file; overrides `corpus`. */
        file: zodParts.textFile,
        tokenizer: z.enum(["byte", "bpe"]),
        /** Vocabulary size of the trained BPE (ignored for bytes). */
        bpeVocab: z.number().int().min(257).max(65536),
        valFraction: zodParts.valFraction,
      })
      .strict(),
    train: zodParts.optim,
    sample: z.object({ prompt: z.string(), tokens: z.number().int().min(0), temperature: z.number().min(0) }).strict(),
  })
  .strict();

export type LMExperimentConfig = z.infer<typeof lmExperimentSchema>;

const base: LMExperimentConfig = {
  seed: 0,
  model: { ...defaultLMConfig, norm: "layer", pos: "learned", mlp: "gelu" },
  data: { corpus: "moby-dick", file: null, tokenizer: "byte", bpeVocab: 512, valFraction: 0.1 },
  train: {
    steps: 1000,
    batchSize: 16,
    lr: 3e-3,
    warmupSteps: 50,
    minLrRatio: 0.1,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    clip: 1,
    evalEvery: 100,
    evalBatches: 8,
    checkpointEvery: 100,
  },
  sample: { prompt: "Call me Ishmael. ", tokens: 200, temperature: 0.8 },
};

/** `tiny` for tests (seconds), `quick` for the main job (minutes on 2 cores), `full` for serious runs. */
export const lmPresets: Record<"tiny" | "quick" | "full", LMExperimentConfig> = {
  tiny: {
    ...base,
    model: { ...base.model, dModel: 32, nLayers: 1, nHeads: 2, contextLength: 32 },
    train: { ...base.train, steps: 30, batchSize: 8, warmupSteps: 5, evalEvery: 10, evalBatches: 2, checkpointEvery: 10 },
    sample: { ...base.sample, tokens: 20 },
  },
  quick: {
    ...base,
    model: { ...base.model, dModel: 128, nLayers: 2, nHeads: 4, contextLength: 128 },
    train: { ...base.train, steps: 1200, batchSize: 16, warmupSteps: 60, evalEvery: 100, evalBatches: 8, checkpointEvery: 100 },
  },
  full: {
    ...base,
    model: { ...base.model, dModel: 256, nLayers: 4, nHeads: 8, contextLength: 256, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 8 / 3, mlpMultipleOf: 4 },
    train: { ...base.train, steps: 5000, batchSize: 16, lr: 1e-3, warmupSteps: 200, evalEvery: 250, evalBatches: 16, checkpointEvery: 250 },
    sample: { ...base.sample, tokens: 400 },
  },
};
