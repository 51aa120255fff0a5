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
  .object({ n: z.number().int().min(2).max(6), k: zodParts.posInt, m: zodParts.posInt, requireCoprime: z.boolean(), hash: z.enum(["mod", "mix"]).optional() })
  .strict();
const odSchema = z
  .object({
    n: z.number().int().min(2).max(4),
    lambda: z.number().min(0).max(10),
    /** "joint": the paper's n-gram output vocabulary (§3.1); "factorised": next-j-token heads, an MTP approximation (App. C). */
    head: z.enum(["factorised", "joint"]).optional(),
    /** Joint head: tokens that end an n-gram class (cfg3f: BOS 0 and EOS 4). */
    specials: z.array(z.number().int().min(0)).optional(),
  })
  .strict();
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
        /**
         * Start symbol of the sampled sentences. cfg3f's root 22 gives 64-729 terminals, longer than
         * a small model's context; nonterminal 16 (four rule layers, 19-69 terminals, mean about 40)
         * gives sentences that fit a 64-token context (issue 19).
         */
        root: z.number().int().min(7).max(22),
        /** Crops start at a sentence's BOS (the model sees every sentence of a crop from its start), not anywhere. */
        alignCrops: z.boolean(),
        /** Sentences sampled once from cfg3f (the paper: 20M). */
        sentences: zodParts.posInt,
        valFraction: z.number().gt(0).lt(0.5),
        model: zodParts.lmModel,
        train: zodParts.optim,
        arms: z.array(armSchema).min(1),
        /** Baseline seeds beyond the run's (seed + 1, ...): independently trained, for the seed floor. */
        extraBaselineSeeds: z.number().int().min(0).max(8),
        /**
         * More model sizes trained on the same sentences with the same arms and baseline seeds (Fig. 2
         * compares a small and a large model); arm `<name>-<arm>`. The claims read the smallest and
         * the largest LM by parameter count.
         */
        extraSizes: z.array(z.object({ name: z.string().regex(/^[a-z0-9]+$/, "use lower-case letters or digits"), model: zodParts.lmModel, train: zodParts.optim }).strict()),
        /** Sentences sampled (apart from the data) to estimate the grammar's entropy floor. */
        floorSamples: z.number().int().min(10),
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
        /** Row of an n-gram in the swept tables: the paper's `key mod m`, or a mixing hash first (see model.ts). */
        hash: z.enum(["mod", "mix"]),
        /** Table sizes m to sweep; 0 is the baseline (no over-encoding). */
        mValues: z.array(z.number().int().min(0)).min(1),
        /** More arms on the same data (e.g. OT, k = 4); not part of the fit. */
        extraArms: z.array(armSchema),
        /** Baseline seeds beyond the run's (seed + 1, ...): independently trained, for the seed floor. */
        extraBaselineSeeds: z.number().int().min(0).max(8),
        /**
         * Throughput of OE (the largest swept m) against the baseline, one process, steps
         * interleaved in `rounds` of `perRound` steps each after `warmup` steps; null skips it.
         */
        throughput: z.object({ rounds: z.number().int().min(1), perRound: z.number().int().min(1), warmup: z.number().int().min(0) }).strict().nullable(),
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
  // Over-decoding as in §3.1: the next 3-gram as one of 2 + 3 + 9 + 27 = 41 classes (BOS 0 and EOS 4 end a run).
  { name: "od-3gram", oe: null, od: { n: 3, lambda: 1, head: "joint", specials: [0, 4] }, mtp: null },
];
/** App. C's factorised next-2-token head: an MTP approximation of over-decoding, labelled as such (not the OD arm). */
export const CFG_MTP_APPROX: ArmSpec = { name: "mtp-2gram", oe: null, od: { n: 2, lambda: 1, head: "factorised" }, mtp: null };

const base: OverTokenizedExperimentConfig = {
  seed: 0,
  tableUpdate: "sparse",
  cfg: {
    enabled: true,
    root: 16,
    alignCrops: true,
    sentences: 20000,
    valFraction: 0.05,
    // Rotary positions: the pilots' baseline closed twice the bigram-to-floor gap with RoPE as with learned positions in the same steps (README, sizing).
    model: { ...defaultLMConfig, vocabSize: CFG_VOCAB, dModel: 64, nLayers: 4, nHeads: 4, contextLength: 128, pos: "rope" },
    train: { ...optim },
    arms: [...cfgArms, CFG_MTP_APPROX],
    extraBaselineSeeds: 1,
    extraSizes: [],
    floorSamples: 2000,
    generation: { prompts: 64, cut: 24, temperature: 1 },
  },
  text: {
    enabled: true,
    corpus: "moby-dick",
    file: null,
    valFraction: 0.1,
    model: { ...defaultLMConfig, vocabSize: 256, dModel: 128, nLayers: 4, nHeads: 4, contextLength: 128 },
    train: { ...optim },
    // Fig. 5: 2-gram tables (n = 2, k = 1). Byte bigrams are few (about 1,700 distinct in the
    // corpus), so tables of more than about 500 rows cannot have 90% of their rows hit.
    n: 2,
    k: 1,
    hash: "mix",
    mValues: [0, 31, 61, 127, 251, 509],
    extraArms: [{ name: "ot-m509", oe: { n: 2, k: 1, m: 509, requireCoprime: true, hash: "mix" }, od: null, mtp: { lambda: 0.1 } }],
    extraBaselineSeeds: 1,
    throughput: { rounds: 6, perRound: 4, warmup: 3 },
  },
};

/** Steps of every quick cfg3f arm, both model sizes (the same sentences seen by each). */
const CFG_QUICK_STEPS = 1200;

/** `tiny`: seconds (tests); `quick`: the reproduction on 2 cores; `full`: the spec's sizes. */
export const overTokenizedPresets: Record<"tiny" | "quick" | "full", OverTokenizedExperimentConfig> = {
  tiny: {
    ...base,
    cfg: {
      ...base.cfg,
      sentences: 60,
      model: { ...base.cfg.model, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 16 },
      train: { ...optim, steps: 6, batchSize: 2, warmupSteps: 1, evalEvery: 3, evalBatches: 1, checkpointEvery: 3 },
      root: 12,
      arms: cfgArms,
      extraBaselineSeeds: 0,
      // A second, smaller size exercises the two-size path (too close in parameters for the large-model claim).
      extraSizes: [
        {
          name: "small",
          model: { ...base.cfg.model, dModel: 8, nLayers: 1, nHeads: 2, contextLength: 16 },
          train: { ...optim, steps: 6, batchSize: 2, warmupSteps: 1, evalEvery: 3, evalBatches: 1, checkpointEvery: 3 },
        },
      ],
      floorSamples: 20,
      generation: { prompts: 2, cut: 2, temperature: 1 },
    },
    text: {
      ...base.text,
      model: { ...base.text.model, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 16 },
      train: { ...optim, steps: 6, batchSize: 2, warmupSteps: 1, evalEvery: 3, evalBatches: 1, checkpointEvery: 3 },
      mValues: [0, 31, 61],
      extraArms: [{ name: "ot-61", oe: { n: 2, k: 1, m: 61, requireCoprime: true, hash: "mix" }, od: null, mtp: { lambda: 0.1 } }],
      extraBaselineSeeds: 0,
      throughput: { rounds: 1, perRound: 1, warmup: 1 },
    },
  },
  quick: {
    ...base,
    cfg: {
      ...base.cfg,
      sentences: 20000,
      // The large model (99,264 LM parameters) and a small one (6,384, 15.5x fewer) with every arm at
      // both sizes, the same steps and sentences (Fig. 2: 2.4M vs 85M). Sizes fixed by the 10x gate
      // and the budget; each size's lr picked by its baseline's held-out loss in the pilots (README, sizing).
      // The small model at lr 1e-2: at 2e-2 its baselines passed their loss drop earlier, but the
      // joint-OD arm diverged at step 566 of the second quick run (README, sizing).
      model: { ...base.cfg.model, dModel: 64, nLayers: 2, nHeads: 4, contextLength: 64 },
      train: { ...optim, steps: CFG_QUICK_STEPS, batchSize: 16, warmupSteps: 30, evalEvery: 100, evalBatches: 8, checkpointEvery: 200 },
      extraSizes: [
        {
          name: "small",
          model: { ...base.cfg.model, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 64 },
          train: { ...optim, steps: CFG_QUICK_STEPS, batchSize: 16, lr: 1e-2, warmupSteps: 50, evalEvery: 100, evalBatches: 8, checkpointEvery: 200 },
        },
      ],
      arms: cfgArms,
      // The quick run with cut 16 accepted 1 of 128 completions for both the baseline (0.976) and OE (0.897): too hard to tell arms apart.
      generation: { prompts: 128, cut: 6, temperature: 1 },
    },
    text: {
      ...base.text,
      model: { ...base.text.model, dModel: 64, nLayers: 2, nHeads: 4, contextLength: 64 },
      train: { ...optim, steps: 400, batchSize: 16, warmupSteps: 25, evalEvery: 50, evalBatches: 16, checkpointEvery: 100 },
    },
  },
  full: {
    ...base,
    cfg: {
      ...base.cfg,
      sentences: 50000,
      train: { ...optim, steps: 6000, batchSize: 16, warmupSteps: 100, evalEvery: 250, evalBatches: 16, checkpointEvery: 500 },
      extraSizes: [
        {
          name: "small",
          model: { ...base.cfg.model, dModel: 16, nLayers: 2, nHeads: 2 },
          train: { ...optim, steps: 6000, batchSize: 16, lr: 1e-2, warmupSteps: 100, evalEvery: 250, evalBatches: 16, checkpointEvery: 500 },
        },
      ],
      generation: { prompts: 256, cut: 32, temperature: 1 },
    },
    text: {
      ...base.text,
      train: { ...optim, steps: 2000, batchSize: 16, lr: 1e-3, warmupSteps: 100, evalEvery: 200, evalBatches: 16, checkpointEvery: 200 },
      extraArms: [
        { name: "oe-k4-509", oe: { n: 2, k: 4, m: 509, requireCoprime: true, hash: "mix" }, od: null, mtp: null },
        { name: "ot-m509", oe: { n: 2, k: 1, m: 509, requireCoprime: true, hash: "mix" }, od: null, mtp: { lambda: 0.1 } },
      ],
    },
  },
};
