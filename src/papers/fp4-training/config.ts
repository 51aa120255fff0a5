/**
 * The FP4-training experiment's typed config, its arms and presets (`tinyfoundry run fp4-training`).
 *
 * Arms are named ablations of the paper (§4.3, Fig. 6; the notes' §1.9). The main ones:
 * `fp32`, `w4a4-direct` (direct cast, STE, no clamp), `w4a4-dge-occ` (the method),
 * `w4a4-dge-occ-tensor` (the method with tensor-wise scales); the method's halves `w4a4-dge` and
 * `w4a4-occ` (in `full`, or with `--set`). The sweeps (in `full`, or chosen with
 * `--set arms=[...]`) quantize one operand to FP4 and the other to FP8-E4M3, as the paper's
 * W4A8 and W8A4 runs do.
 */
import { z } from "zod";
import { zodParts } from "../../train/config.js";
import { defaultLMConfig } from "../../nn/transformer.js";
import { FP4_FORMATS, FP4_SITES, defaultActivationQuant, defaultWeightQuant, type FP4Format, type FP4LinearConfig } from "./model.js";

/** Every arm the experiment knows, in report order. */
export const ARM_NAMES = [
  "fp32",
  "w4a4-direct",
  "w4a4-dge",
  "w4a4-occ",
  "w4a4-dge-occ",
  "w4a4-dge-occ-tensor",
  "w4a4-dge-occ-wtensor",
  "w4a4-dge-occ-atensor",
  "w4a8-ste",
  "w4a8-dge-k3",
  "w4a8-dge-k5",
  "w4a8-dge-k10",
  "w8a4-direct",
  "w8a4-clamp-0.99",
  "w8a4-occ-0.999",
  "w8a4-occ-0.99",
  "w8a4-occ-0.97",
] as const;
export type ArmName = (typeof ARM_NAMES)[number];

/**
 * The arms the mechanism test may train with the injected outlier channel: activations cast
 * directly or with OCC, weights in FP8 (the paper's W8A4 ablation, Fig. 6c). FP8 weights keep the
 * weight row the injection divides by 16, which per-channel FP4 scales would mostly round to zero,
 * so the comparison isolates the activation quantizer, the one OCC is for.
 */
export const MECHANISM_ARMS = ["w8a4-direct", "w8a4-occ-0.99"] as const satisfies readonly ArmName[];
export type MechanismArm = (typeof MECHANISM_ARMS)[number];

/** What each arm means, for the report. */
export const ARM_DESCRIPTIONS: Record<ArmName, string> = {
  fp32: "float32 everywhere (the paper's BF16 baseline)",
  "w4a4-direct": "W4A4 direct cast: FP4 weights (per channel) and activations (per token), straight-through gradients, no clamp",
  "w4a4-dge-occ": "W4A4 + DGE (k) + OCC (α, with compensation): the method",
  "w4a4-dge": "W4A4 + DGE only: the method without OCC (activations cast directly)",
  "w4a4-occ": "W4A4 + OCC only: the method with straight-through weight gradients instead of DGE",
  "w4a4-dge-occ-tensor": "the method with tensor-wise scales for weights and activations",
  "w4a4-dge-occ-wtensor": "the method with tensor-wise weight scales only (Fig. 6d)",
  "w4a4-dge-occ-atensor": "the method with tensor-wise activation scales only (Fig. 6d)",
  "w4a8-ste": "FP4 weights with straight-through gradients, FP8 activations (Fig. 6b)",
  "w4a8-dge-k3": "FP4 weights with DGE k = 3, FP8 activations (Fig. 6b)",
  "w4a8-dge-k5": "FP4 weights with DGE k = 5, FP8 activations (Fig. 6b)",
  "w4a8-dge-k10": "FP4 weights with DGE k = 10, FP8 activations (Fig. 6b)",
  "w8a4-direct": "FP8 weights, FP4 activations cast directly (Fig. 6c: NaN at 1.3B)",
  "w8a4-clamp-0.99": "FP8 weights, FP4 activations clamped at α = 0.99 without compensation",
  "w8a4-occ-0.999": "FP8 weights, FP4 activations with OCC α = 0.999 (Fig. 6c)",
  "w8a4-occ-0.99": "FP8 weights, FP4 activations with OCC α = 0.99 (Fig. 6c)",
  "w8a4-occ-0.97": "FP8 weights, FP4 activations with OCC α = 0.97 (Fig. 6c)",
};

export const fp4TrainingSchema = z
  .object({
    seed: zodParts.seed,
    model: zodParts.lmModel,
    data: z
      .object({
        corpus: zodParts.corpus,
        /** A user text file; overrides `corpus`. Bytes are the tokens (a char-level model). */
        file: zodParts.textFile,
        valFraction: zodParts.valFraction,
      })
      .strict(),
    train: zodParts.optim,
    /** Which arms to run (identical init, data order and seed). */
    arms: z.array(z.enum(ARM_NAMES)).min(1),
    /**
     * The fp32 arm trained again with each of these seeds (its init and data order; the split
     * stays the run seed's), for the noise floor: the spread between independently trained models.
     */
    floorSeeds: z.array(zodParts.seed),
    /**
     * The mechanism test: one activation channel scaled by `factor` at every quantized linear, the
     * matching weight row divided by it (the fp32 function is unchanged). Its Table 1 analogue is
     * measured on the fp32 model's activations; `arms` are trained with the outlier channel.
     */
    mechanism: z
      .object({
        factor: z.number().positive(),
        channel: z.number().int().min(0),
        arms: z.array(z.enum(MECHANISM_ARMS)),
        /** Training steps of the mechanism arms (a shorter run than the main arms; same schedule shape). */
        steps: zodParts.posInt,
      })
      .strict(),
    fp4: z
      .object({
        format: z.enum(FP4_FORMATS),
        /** Round scales down to powers of two (the official MS-AMP code) instead of Eq. (1)'s exact ratio. */
        pow2Scale: z.boolean(),
        /** DGE sharpness k of the method arm (5 in the paper). */
        k: z.number().positive(),
        /** Cap on the DGE derivative (3.0 in the paper). */
        dgeCap: z.number().positive(),
        /** OCC quantile α of the method arm (0.99 in the paper). */
        quantile: z.number().gt(0.5).max(1),
        sites: z.array(z.enum(FP4_SITES)).min(1),
      })
      .strict(),
    /** The Table 1 analogue: activations captured from the trained fp32 model. */
    fidelity: z
      .object({
        /** Validation batches whose activations are captured (0 skips the table). */
        batches: z.number().int().min(0),
        /** Quantiles of the clamp + compensation rows (the paper: 0.999, 0.99, 0.97). */
        quantiles: z.array(z.number().gt(0.5).max(1)).min(1),
      })
      .strict(),
  })
  .strict();

export type FP4TrainingConfig = z.infer<typeof fp4TrainingSchema>;

/** The FP4 linear config of an arm (null: the plain float32 linear). */
export function armLinearConfig(arm: ArmName, fp4: FP4TrainingConfig["fp4"]): FP4LinearConfig | null {
  const format: FP4Format = fp4.format;
  const w = { ...defaultWeightQuant, format, pow2Scale: fp4.pow2Scale, k: fp4.k, cap: fp4.dgeCap };
  const a = { ...defaultActivationQuant, format, pow2Scale: fp4.pow2Scale, quantile: fp4.quantile };
  const sites = fp4.sites;
  switch (arm) {
    case "fp32":
      return null;
    case "w4a4-direct":
      return { weight: { ...w, estimator: "ste" }, activation: { ...a, occ: "none" }, sites };
    case "w4a4-dge-occ":
      return { weight: w, activation: a, sites };
    case "w4a4-dge":
      return { weight: w, activation: { ...a, occ: "none" }, sites };
    case "w4a4-occ":
      return { weight: { ...w, estimator: "ste" }, activation: a, sites };
    case "w4a4-dge-occ-tensor":
      return { weight: { ...w, granularity: "tensor" }, activation: { ...a, granularity: "tensor" }, sites };
    case "w4a4-dge-occ-wtensor":
      return { weight: { ...w, granularity: "tensor" }, activation: a, sites };
    case "w4a4-dge-occ-atensor":
      return { weight: w, activation: { ...a, granularity: "tensor" }, sites };
    case "w4a8-ste":
      return { weight: { ...w, estimator: "ste" }, activation: "fp8", sites };
    case "w4a8-dge-k3":
      return { weight: { ...w, k: 3 }, activation: "fp8", sites };
    case "w4a8-dge-k5":
      return { weight: { ...w, k: 5 }, activation: "fp8", sites };
    case "w4a8-dge-k10":
      return { weight: { ...w, k: 10 }, activation: "fp8", sites };
    case "w8a4-direct":
      return { weight: "fp8", activation: { ...a, occ: "none" }, sites };
    case "w8a4-clamp-0.99":
      return { weight: "fp8", activation: { ...a, occ: "clamp", quantile: 0.99 }, sites };
    case "w8a4-occ-0.999":
      return { weight: "fp8", activation: { ...a, quantile: 0.999 }, sites };
    case "w8a4-occ-0.99":
      return { weight: "fp8", activation: { ...a, quantile: 0.99 }, sites };
    case "w8a4-occ-0.97":
      return { weight: "fp8", activation: { ...a, quantile: 0.97 }, sites };
  }
}

/** The notes' §1.9 arms. */
const MAIN_ARMS: ArmName[] = ["fp32", "w4a4-direct", "w4a4-dge-occ", "w4a4-dge-occ-tensor"];
/**
 * The quick preset's arms: fp32, the direct cast and the method. Fewer arms trained further (a
 * margin of >= 0.5 nats/byte over the bigram) beat many barely trained ones; `full` (or `--set
 * arms=[...]`) adds DGE only, OCC only and the granularity and sweep arms.
 */
const QUICK_ARMS: ArmName[] = ["fp32", "w4a4-direct", "w4a4-dge-occ"];
/** The method taken apart (DGE only, OCC only): `--set arms=[...]` with these, see the README. */
export const DECOMPOSITION_ARMS: ArmName[] = ["w4a4-direct", "w4a4-dge", "w4a4-occ", "w4a4-dge-occ"];

const base: FP4TrainingConfig = {
  seed: 0,
  // The notes' §1.9 model: GPT layout, LayerNorm, learned positions, GeLU FFN of 4d, tied head.
  model: { ...defaultLMConfig, dModel: 128, nLayers: 4, nHeads: 4, contextLength: 128, norm: "layer", pos: "learned", mlp: "gelu", mlpRatio: 4 },
  data: { corpus: "moby-dick", file: null, valFraction: 0.1 },
  // AdamW β = (0.9, 0.95), wd 0.1, peak lr 1e-3, 5% warm-up, cosine to 10% (the notes' §1.9).
  train: {
    steps: 2000,
    batchSize: 16,
    lr: 1e-3,
    warmupSteps: 100,
    minLrRatio: 0.1,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    clip: 1,
    evalEvery: 250,
    evalBatches: 16,
    checkpointEvery: 250,
  },
  arms: [...ARM_NAMES],
  floorSeeds: [1],
  mechanism: { factor: 16, channel: 0, arms: [...MECHANISM_ARMS], steps: 2000 },
  fp4: { format: "e2m1", pow2Scale: false, k: 5, dgeCap: 3, quantile: 0.99, sites: [...FP4_SITES] },
  fidelity: { batches: 4, quantiles: [0.999, 0.99, 0.97] },
};

/**
 * `tiny` for tests (seconds); `quick` for the main job (about 8.5 minutes on an idle 2-core
 * machine: a 2-layer model, context 64, 1,000 steps at the LM's peak lr 3e-3, fp32 / direct cast /
 * the method, fp32 again with a second seed for the floor, and the mechanism test's two arms for
 * 400 steps; sized by the pilot in the README); `full` for the notes' §1.9 run (4 layers, context
 * 128, 2,000 steps, every arm including the DGE-k and OCC-α sweeps).
 */
export const fp4TrainingPresets: Record<"tiny" | "quick" | "full", FP4TrainingConfig> = {
  tiny: {
    ...base,
    model: { ...base.model, dModel: 32, nLayers: 1, nHeads: 2, contextLength: 32 },
    train: { ...base.train, steps: 12, batchSize: 4, warmupSteps: 2, evalEvery: 6, evalBatches: 2, checkpointEvery: 6 },
    arms: MAIN_ARMS,
    mechanism: { ...base.mechanism, steps: 6 },
    fidelity: { ...base.fidelity, batches: 1 },
  },
  quick: {
    ...base,
    model: { ...base.model, nLayers: 2, contextLength: 64 },
    train: { ...base.train, steps: 1000, lr: 3e-3, warmupSteps: 50, evalEvery: 200, evalBatches: 16, checkpointEvery: 200 },
    arms: QUICK_ARMS,
    mechanism: { ...base.mechanism, steps: 400 },
    fidelity: { ...base.fidelity, batches: 2 },
  },
  full: base,
};
