/**
 * What the FP4-training experiment measures (its `summary.json`) and the paper's numbers it is set
 * beside. The experiment writes these types, the claims judge them and the report prints them; this
 * file imports none of the three, so no two of them import each other.
 */
import type { ArmName } from "./config.js";

export type ArmSummary = {
  [k: string]: unknown;
  arm: ArmName;
  /** The seed of the arm's init and data order (one per independently trained model). */
  seed: number;
  /** Trained with the mechanism test's outlier channel (absent in summaries written before it). */
  injected?: boolean;
  /** The arm's directory under `<run>/arms/` (absent in older summaries: the arm's name). */
  dir?: string;
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
  /**
   * The final validation loss of each evaluation batch (their mean is `valLoss`). Every arm scores
   * the same batches, so differences between arms can be paired batch by batch for a standard error.
   */
  valBatchLosses: number[];
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

export type MechanismSummary = {
  factor: number;
  channel: number;
  fidelity: FidelityRow[];
};

export type FP4TrainingSummary = {
  [k: string]: unknown;
  /** One entry per trained model (arm and seed), in the order they ran. */
  arms: ArmSummary[];
  /**
   * The add-α bigram's loss on the whole validation split (nats/byte; counts from the training
   * split, α picked on the validation split, which only makes the baseline stronger). The trained
   * margin is this minus the fp32 arm's validation loss.
   */
  bigramValLoss: number;
  bigramAlpha: number;
  /** The Table 1 analogue (null when the fp32 arm is not run or `fidelity.batches` is 0). */
  fidelity: FidelityRow[] | null;
  /** The widths c of the captured activation rows (the clamp's quantile index depends on them). */
  fidelityWidths: number[];
  /**
   * The mechanism test's Table 1 analogue: the same captured activations with one channel scaled
   * by `factor` (null when the fidelity table is not measured).
   */
  mechanism?: MechanismSummary | null;
  /** Sum of the arms' training-step time (excludes evaluation and compilation). */
  trainSecondsAllArms: number;
  /** Added by the runner: wall time of the experiment over every invocation. */
  wallSeconds?: number;
};

/** The paper's numbers (arXiv 2501.17116 v2). */
export const PAPER = {
  /** Final training loss after 100B tokens (§4.2, Fig. 5). */
  finalLoss: [
    { model: "LLaMA-2 1.3B", bf16: 2.49, fp4: 2.55 },
    { model: "LLaMA-2 7B", bf16: 2.07, fp4: 2.17 },
    { model: "LLaMA-2 13B", bf16: 1.88, fp4: 1.97 },
  ],
  /** Table 1: fidelity of quantized activations, LLaMA-1.3B at iteration 30,000. */
  table1: [
    { clamp: false, comp: false, quantile: null, sim: 0.9219, mse: 0.1055, snr: 8.31 },
    { clamp: true, comp: false, quantile: 0.999, sim: 0.9883, mse: 0.0366, snr: 14.25 },
    { clamp: true, comp: true, quantile: 0.999, sim: 0.9961, mse: 0.0245, snr: 15.31 },
    { clamp: true, comp: true, quantile: 0.99, sim: 1.0, mse: 0.0099, snr: 18.38 },
    { clamp: true, comp: true, quantile: 0.97, sim: 1.0, mse: 0.0068, snr: 20.88 },
  ],
  /** Residual density at α = 0.999 / 0.99 / 0.97 (§4.3). */
  density: { 0.999: 0.002, 0.99: 0.02, 0.97: 0.06 } as Record<string, number>,
};
