/**
 * Typed config, schema and presets of the over-tokenized experiment (arXiv 2501.16975):
 * (A) the cfg3f comparison of the paper's §3.1 (baseline vs n-gram input vs n-gram output) and
 * (B) the m-sweep of §4.2 on the built-in text corpus (loss against log10 m).
 */
import { z } from "zod";
import { zodParts } from "../../train/config.js";
import { CORPORA } from "../../data/corpus.js";
import { defaultLMConfig } from "../../nn/transformer.js";
import { CFG_VOCAB } from "./cfg3f.js";

const oeSchema = z
  .object({ n: z.number().int().min(2).max(6), k: zodParts.posInt, m: zodParts.posInt, requireCoprime: z.boolean() })
  .strict();
const odSchema = z.object({ n: z.number().int().min(2).max(4), lambda: z.number().min(0).max(10) }).strict();
const mtpSchema = z.object({ lambda: z.number().min(0).max(10) }).strict();

/** One training arm: which of OE / OD / MTP are on. */
export const armSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, '.', '_' or '-'"),
    oe: oeSchema.nullable(),
    od: odSchema.nullable(),
    mtp: mtpSchema.nullable(),
  })
  .strict();
export type ArmSpec = z.infer<typeof armSchema>;

export const overTokenizedSchema = z
  .object({
    seed: zodParts.seed,
    /** "sparse": hashed tables on the host, lazy AdamW on hit rows; "dense": tables are ordinary params. */
    tableUpdate: z.enum(["sparse", "dense"]),
    cfg: z
      .object({
        enabled: z.boolean(),
        /** Sentences sampled once from cfg3f (the paper: 20M). */
        sentences: zodParts.posInt,
        valFraction: z.number().gt(0).lt(0.5),
        model: zodParts.lmModel,
        train: zodParts.optim,
        arms: z.array(armSchema).min(1),
        /** Completion check: held-out sentences lose their last `cut` terminals; the model completes them. */
        generation: z.object({ prompts: z.number().int().min(0), cut: zodParts.posInt, temperature: z.number().min(0) }).strict(),
      })
      .strict(),
    text: z
      .object({
        enabled: z.boolean(),
        corpus: z.enum(CORPORA),
        file: z.string().nullable(),
        valFraction: z.number().gt(0).lt(0.5),
        model: zodParts.lmModel,
        train: zodParts.optim,
        /** n-gram order and slices of the swept OE arms (the paper's Fig. 5 uses n = 2, k = 1). */
        n: z.number().int().min(2).max(6),
        k: zodParts.posInt,
        /** Table sizes m to sweep; 0 is the baseline (no over-encoding). */
        mValues: z.array(z.number().int().min(0)).min(1),
        /** More arms on the same data (e.g. OT, k = 4); not part of the fit. */
        extraArms: z.array(armSchema),
      })
      .strict(),
  })
  .strict();

export type OverTokenizedExperimentConfig = z.infer<typeof overTokenizedSchema>;

const optim = {
  steps: 400,
  batchSize: 16,
  lr: 3e-3,
  warmupSteps: 30,
  minLrRatio: 0.1,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.98,
  clip: 1,
  evalEvery: 50,
  evalBatches: 4,
  checkpointEvery: 100,
};

const cfgArms: ArmSpec[] = [
  { name: "baseline", oe: null, od: null, mtp: null },
  // m = 127 >= 5^3: every 2-gram and 3-gram has its own row (no hashing), k = 1, divided by 3.
  { name: "oe-3gram", oe: { n: 3, k: 1, m: 127, requireCoprime: true }, od: null, mtp: null },
  { name: "od-2gram", oe: null, od: { n: 2, lambda: 1 }, mtp: null },
];

const base: OverTokenizedExperimentConfig = {
  seed: 0,
  tableUpdate: "sparse",
  cfg: {
    enabled: true,
    sentences: 20000,
    valFraction: 0.05,
    model: { ...defaultLMConfig, vocabSize: CFG_VOCAB, dModel: 64, nLayers: 4, nHeads: 4, contextLength: 128 },
    train: { ...optim },
    arms: cfgArms,
    generation: { prompts: 64, cut: 24, temperature: 1 },
  },
  text: {
    enabled: true,
    corpus: "moby-dick",
    file: null,
    valFraction: 0.1,
    model: { ...defaultLMConfig, vocabSize: 256, dModel: 128, nLayers: 4, nHeads: 4, contextLength: 128 },
    train: { ...optim },
    n: 3,
    k: 1,
    mValues: [0, 1021, 4093, 16381, 65521],
    extraArms: [],
  },
};

/** `tiny`: seconds (tests); `quick`: the reproduction on 2 cores; `full`: the spec's sizes. */
export const overTokenizedPresets: Record<"tiny" | "quick" | "full", OverTokenizedExperimentConfig> = {
  tiny: {
    ...base,
    cfg: {
      ...base.cfg,
      sentences: 60,
      model: { ...base.cfg.model, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 16 },
      train: { ...optim, steps: 6, batchSize: 2, warmupSteps: 1, evalEvery: 3, evalBatches: 1, checkpointEvery: 3 },
      arms: [cfgArms[0], cfgArms[1]],
      generation: { prompts: 2, cut: 2, temperature: 1 },
    },
    text: {
      ...base.text,
      model: { ...base.text.model, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 16 },
      train: { ...optim, steps: 6, batchSize: 2, warmupSteps: 1, evalEvery: 3, evalBatches: 1, checkpointEvery: 3 },
      mValues: [0, 1021, 4093],
      extraArms: [{ name: "ot-1021", oe: { n: 3, k: 1, m: 1021, requireCoprime: true }, od: null, mtp: { lambda: 0.1 } }],
    },
  },
  quick: {
    ...base,
    cfg: {
      ...base.cfg,
      sentences: 6000,
      model: { ...base.cfg.model, dModel: 64, nLayers: 2, nHeads: 4, contextLength: 64 },
      train: { ...optim, steps: 300, batchSize: 16, warmupSteps: 20, evalEvery: 50, evalBatches: 8, checkpointEvery: 100 },
      generation: { prompts: 64, cut: 16, temperature: 1 },
    },
    text: {
      ...base.text,
      model: { ...base.text.model, dModel: 64, nLayers: 2, nHeads: 4, contextLength: 64 },
      train: { ...optim, steps: 500, batchSize: 16, warmupSteps: 25, evalEvery: 50, evalBatches: 16, checkpointEvery: 100 },
    },
  },
  full: {
    ...base,
    cfg: {
      ...base.cfg,
      sentences: 50000,
      train: { ...optim, steps: 1000, batchSize: 16, lr: 1e-3, warmupSteps: 50, evalEvery: 100, evalBatches: 16, checkpointEvery: 200 },
      generation: { prompts: 256, cut: 32, temperature: 1 },
    },
    text: {
      ...base.text,
      train: { ...optim, steps: 2000, batchSize: 16, lr: 1e-3, warmupSteps: 100, evalEvery: 200, evalBatches: 16, checkpointEvery: 200 },
      extraArms: [
        { name: "oe-k4-16381", oe: { n: 3, k: 4, m: 16381, requireCoprime: true }, od: null, mtp: null },
        { name: "ot-16381", oe: { n: 3, k: 1, m: 16381, requireCoprime: true }, od: null, mtp: { lambda: 0.1 } },
      ],
    },
  },
};
