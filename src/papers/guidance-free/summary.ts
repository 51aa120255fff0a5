/**
 * The summary of a guidance-free run: what the experiment files return, what the claims judge and what
 * the report draws. Types and small pure accessors only, so that the experiment, the claims and the report
 * all import this file and none of them imports another.
 */

/**
 * A sampler family. "CFG (resampled)" is the reference CFG model sampled again with another sampling seed: it
 * shows the sampling noise of the 2-D metrics and is never a floor (two independently trained CFG models are).
 */
export type Family = "CFG" | "CFG (resampled)" | "GFT scratch" | "GFT fine-tuned";

export type TrainArmSummary = { arm: string; steps: number; finalLoss: number; trainSeconds: number; msPerStep: number; params: number; [k: string]: unknown };

/** Classifier metrics of a set of digit images against the real validation set. */
export type ImageMetrics = { accuracy: number; confidence: number; precision: number; recall: number; fd: number };

/** One sampler at one guidance scale. */
export type SampleRow = {
  family: Family;
  /** Init and data seed of the trained model that sampled (several for CFG once a second CFG model is trained). */
  trainSeed: number;
  w: number;
  /** GFT's β = 1/w; null for CFG. */
  beta: number | null;
  nfe: number;
  msPerSample: number;
  /** Number of samples (all classes), for binomial standard errors of `accuracy`. */
  samples: number;
  accuracy: number;
  confidence: number;
  precision: number;
  recall: number;
  /**
   * 2-D: MMD² (averaged over classes) at the same w: for a GFT model, to the pooled samples of the trained CFG
   * models (their midpoint); for a CFG model, to the other trained CFG model (the floor); for the resampled CFG
   * model, to the first CFG model.
   */
  mmdToCFG?: number;
  /** 2-D: MMD² between the pooled CFG models at w = 1 and at w (how far guidance moves the samples). */
  mmdCondToCFG?: number;
  /** 2-D: MMD² to the exact tilted law p(x|c)^w p(x)^{1-w}. */
  mmdToTilted?: number;
  /** Digits: Fréchet distance in the classifier's features to the real validation set (FID substitute). */
  fd?: number;
};

/**
 * The functional test at one guided scale w (issue 21): distances on fixed inputs (diffusion: ε mean squared
 * difference; autoregressive: per-token KL) to the midpoint of the two trained CFG models at w.
 */
export type FunctionalAtW = {
  w: number;
  /** Distance between the two independently trained CFG models at w (the floor). */
  floor: number;
  /** Distance of the CFG midpoint at w = 1 (no guidance) to the midpoint at w: how far guidance moves the output. */
  movement: number;
  /** Distance of the first CFG model unguided (the fine-tuning start) to the midpoint at w. */
  start: number;
  /** Distance of each GFT model at β = 1/w to the midpoint at w. */
  gaps: Partial<Record<Family, number>>;
};

/** One point of the fine-tuning curve: the functional distance at each w after `step` fine-tuning steps. */
export type FinetunePoint = { step: number; fraction: number; gaps: number[] };

export type FunctionalSummary = {
  metric: string;
  /** Fixed inputs the test ran on. */
  inputs: number;
  rows: FunctionalAtW[];
  /** Fine-tuning curve (step 0 = the CFG model with a zero β projection); `fraction` = steps / CFG pre-training steps. */
  finetuneCurve?: FinetunePoint[];
};

export type EvalSummary = {
  rows: SampleRow[];
  /** Samples per class of every sampler. */
  perClass: number;
  /** Digits: the metrics of real training digits against the validation set (the evaluation's resolution). */
  realVsReal?: ImageMetrics;
};

/** One family of the experiment (2-D mixture, digits diffusion, digits autoregressive). */
export type PartSummary = {
  /** Training arms: `cfg`, `cfgSeed2` (the second CFG model), `gftScratch`, `gftFinetune` (when fine-tuning is on). */
  arms: Record<string, TrainArmSummary>;
  /** Digits: the classifier whose features give the FID substitute. */
  classifier?: TrainArmSummary;
  eval: EvalSummary;
  /** The noise-free functional test (issue 21). */
  functional?: FunctionalSummary;
};

export type PartKey = "mixture" | "digits" | "ar";
export const PART_KEYS: readonly PartKey[] = ["mixture", "digits", "ar"];

export type GuidanceFreeSummary = {
  /** The reference seed (config seed) of every trained arm. */
  seed: number;
  mixture?: PartSummary;
  digits?: PartSummary;
  ar?: PartSummary;
  /** Added by the runner. */
  wallSeconds?: number;
  armWallSeconds?: Record<string, number>;
};

/** Rows of one family, sorted by w (then by training seed). */
export const byFamily = (rows: readonly SampleRow[], f: Family): SampleRow[] => rows.filter((r) => r.family === f).sort((a, b) => a.w - b.w || a.trainSeed - b.trainSeed);

/** The guided scales (w > 1) a part sampled, ascending. */
export const guidedScales = (rows: readonly SampleRow[]): number[] => [...new Set(rows.filter((r) => r.family === "CFG" && r.w > 1).map((r) => r.w))].sort((a, b) => a - b);

/** Mean over the rows' values (NaN for none). */
export const meanOf = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
