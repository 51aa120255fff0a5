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
  /** An arm of `config.ts` (`ARMS`), or a control a later experiment adds (e.g. "mom-shuffled"). */
  arm: string;
  /** The seed the arm was trained with (init and data order). */
  seed: number;
  params: number;
  steps: number;
  /** Smoothed training losses at the last step. */
  finalLoss: number;
  finalText: number;
  finalImage: number;
  valLoss: number;
  valText: number;
  valImage: number;
  trainSeconds: number;
  secondsPerStep: number;
};

/**
 * The paper's metric for one arm and modality: the first step at which the arm's smoothed
 * training loss reaches the reference (dense) run's final smoothed loss, as a % of the reference
 * run's steps (null: never within the run). When the arm ends above the reference, `reversePct` is
 * the same measure with the roles swapped (the reference reaching the arm's final loss), so a slower
 * arm has a measured deficit rather than just "not reached".
 */
export type MatchRow = {
  arm: string;
  seed: number;
  /** The seed of the dense run whose final loss is the target. */
  refSeed: number;
  modality: Modality;
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
