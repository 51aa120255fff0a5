/**
 * The summary of a Mixture-of-Mamba run: what `run` returns, what the claims read and what the
 * report shows. Both the experiment and the report import these types; neither imports the other.
 */

/** The paper's headline numbers (1.4B scale; abstract and README of the official repository). */
export const PAPER = {
  chameleonImagePct: 42.5,
  chameleonTextPct: 65.4,
  transfusionImagePct: 34.76,
  speechPct: 24.8,
} as const;

export type Modality = "total" | "text" | "image";

export type ArmSummary = {
  /** An arm of `config.ts` (`ARMS`). */
  arm: string;
  /** The seed the arm was trained with (init and data order). */
  seed: number;
  params: number;
  steps: number;
  /** Smoothed training losses at the last step. */
  finalLoss: number;
  finalText: number;
  finalImage: number;
  /** Held-out losses: the mean over `evalBatches` fixed validation batches, and its standard error over them. */
  valLoss: number;
  valText: number;
  valImage: number;
  valLossSE: number;
  valTextSE: number;
  valImageSE: number;
  trainSeconds: number;
  secondsPerStep: number;
};

/**
 * The paper's metric for one arm and modality, read at a horizon (a fraction of the training
 * steps: 1 is the paper's "final loss", 0.5 the same read half-way): the first step at which the
 * arm's smoothed training loss reaches the reference (dense) run's smoothed loss at the horizon, as
 * a % of the horizon's steps (null: never within it). When the arm is above the reference at the
 * horizon, `reversePct` is the same measure with the roles swapped (the reference reaching the
 * arm's loss), so a slower arm has a measured deficit rather than just "not reached". A dense row
 * (seed ≠ refSeed) is a replicate: one dense seed measured against another, the metric's seed noise.
 */
export type MatchRow = {
  arm: string;
  seed: number;
  /** The seed of the dense run whose loss is the target. */
  refSeed: number;
  modality: Modality;
  /** The fraction of the training steps the row reads (1 = the end of training). */
  horizon: number;
  denseFinal: number;
  step: number | null;
  pct: number | null;
  reverseStep: number | null;
  reversePct: number | null;
};

/** Held-out loss of the trivial baselines of one modality (nats/token), fitted on the training split. */
export type ModalityBaselines = { unigram: number; bigram: number; bigramAlpha: number };

export type MoMSummary = {
  arms: ArmSummary[];
  match: MatchRow[];
  /** Text: bytes of the validation text; image: the VQ codes of the validation digits, in raster order. */
  baselines: { text: ModalityBaselines; image: ModalityBaselines };
  vq: { codebookSize: number; valMSE: number; codesUsed: number };
  imageTokenFraction: number;
  /** Added by the runner. */
  wallSeconds?: number;
  armWallSeconds?: Record<string, number>;
};
