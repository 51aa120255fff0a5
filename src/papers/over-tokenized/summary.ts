/**
 * What an over-tokenized run measures (the summary the experiment returns, the claims judge and the
 * report shows), the paper's numbers it is compared with, and the small pure helpers the claims
 * and the report share. Imported by both sides, so neither imports the other.
 */
import { meanSE } from "../../train/stats.js";

/**
 * What an arm adds to the baseline LM: nothing, over-encoding, over-decoding (the joint n-gram
 * output head), the factorised next-j-token head (an MTP approximation, App. C), OE + MTP, or a mix.
 */
export type ArmRole = "baseline" | "oe" | "od" | "mtp-approx" | "ot" | "other";

export type ArmResult = {
  [k: string]: unknown;
  arm: string;
  study: "cfg" | "text";
  /** The seed the arm was trained with (init and data). */
  seed: number;
  role: ArmRole;
  /**
   * The output head of an OD arm: "factorised" is the next-j-token product decomposition (App. C,
   * an MTP approximation), not the paper's joint n-gram output vocabulary of §3.1 / Fig. 2.
   */
  odHead: "factorised" | "joint" | null;
  /** Table size m of the OE arm (0 for no over-encoding). */
  m: number;
  status: "completed" | "interrupted";
  steps: number;
  lmParams: number;
  oeTableParams: number;
  otherParams: number;
  /** Mean next-token training loss over the last 10% of steps. */
  finalTrainLoss: number;
  /** Held-out next-token loss at the end (nats/token). */
  valLoss: number;
  /** Mean next-token loss of each held-out crop at the end (the same crops for every arm of a study). */
  valCropLosses: number[];
  /** Median training tokens/s per step after the first 3 (wall clock, this invocation). */
  tokensPerSec: number;
  trainSeconds: number;
  /** cfg3f only: fraction of completed held-out sentences the grammar accepts (-1 when not measured). */
  completionAccuracy: number;
  /** Held-out sentences the completion check ran on (0 when not measured). */
  completionN: number;
};

/** Trivial baselines of a study's held-out split (nats/token). */
export type TrivialBaselines = {
  /** Uniform over the study's symbols (cfg3f: its 3 terminals; text: 256 bytes). */
  uniform: number;
  /** Unigram frequencies of the training split (add-one), scored on the held-out targets. */
  unigram: number;
  /** Bigram (previous token) frequencies of the training split (add-one), scored on the held-out targets. */
  bigram: number;
  /**
   * cfg3f only: the grammar's entropy per token of the sentence stream (a lower bound on any
   * model's loss), a Monte-Carlo estimate over `samples` sentences with exact probabilities, and its SE.
   */
  entropyFloor?: { perToken: number; se: number; samples: number; meanLength: number; root: number };
};

/** Least-squares line of loss against log10 m over the swept OE arms. */
export type SweepFit = {
  points: number;
  valSlope: number;
  /** Standard error of the slope (NaN with fewer than 3 points). */
  valSlopeSE: number;
  valIntercept: number;
  valR2: number;
  trainSlope: number;
  trainIntercept: number;
  trainR2: number;
};

/** How well the hash spreads the training data's n-grams over each table's rows. */
export type HashPurity = {
  m: number;
  /** "mod" (the paper's key mod m) or "mix" (a mixing hash first). */
  hash?: "mod" | "mix";
  /** Distinct training n-grams of the largest order. */
  distinctNgrams?: number;
  /** Smallest fraction of a table's rows that some training n-gram maps to (over the arm's tables). */
  rowsHitFraction: number;
  /** Largest mean number of distinct training n-grams per hit row (over the arm's tables). */
  ngramsPerHitRow: number;
};

/** Training throughput of the OE arms against the baseline. */
export type Throughput = {
  /**
   * "sequential arms": each arm's median wall-clock step rate, arms trained one after another (on a
   * machine other jobs share); "interleaved": baseline and OE steps alternated in one process.
   */
  method: "sequential arms" | "interleaved";
  baselineTokensPerSec: number;
  /** Interleaved only: steps timed per model, and the fastest step's ratio (OE / baseline tokens/s − 1). */
  steps?: number;
  oe: { arm: string; m: number; tokensPerSec: number; change: number; changeOfMin?: number }[];
};

export type OverTokenizedSummary = {
  [k: string]: unknown;
  cfgArms: ArmResult[];
  textArms: ArmResult[];
  cfgBaselines: TrivialBaselines | null;
  textBaselines: TrivialBaselines | null;
  fit: SweepFit | null;
  hashPurity: HashPurity[];
  throughput: Throughput | null;
  /** Added by the runner: wall time over every invocation, and per arm. */
  wallSeconds?: number;
  armWallSeconds?: Record<string, number>;
};

/** Paper numbers used for comparison (arXiv 2501.16975). */
export const PAPER = {
  fig5: { intercept: 2.6754, slope: -0.0256, setting: "OLMoE-1.3B, n = 2, k = 1, m from 20K to 12.8M, 500B tokens" },
  table1: [
    { model: "OLMoE-1.3B", baseline: 2.554, oe: 2.472, vocab: 50280 },
    { model: "OLMoE-7B", baseline: 2.305, oe: 2.229, vocab: 50280 },
  ],
  table2: [
    { row: "baseline", loss: 2.554 },
    { row: "+E_{3.2M×d}(x^(−2))", loss: 2.511 },
    { row: "+E_{12.8M×d}(x^(−2))", loss: 2.493 },
    { row: "OE-3.2M (2+3-gram, k = 2)", loss: 2.495 },
    { row: "OE-12.8M (2+3-gram, k = 2)", loss: 2.472 },
  ],
  table6: { olmoe13b: -4.63, olmoe7b: -8.3 },
  table5: { baseline: 2.554, oe: 2.472, ot: 2.481 },
  fig2: { small: "2.4M", large: "85M" },
};

/** The swept OE arms of the text study (named `oe-m<m>`), sorted by m. */
export function sweepArms(arms: readonly ArmResult[]): ArmResult[] {
  return arms.filter((a) => a.m > 0 && a.arm === `oe-m${a.m}`).sort((a, b) => a.m - b.m || a.seed - b.seed);
}

/**
 * Held-out loss of `arm` minus `base` of the same seed, with the standard error of the mean of the
 * paired per-crop differences (NaN when the crops are missing or fewer than 2).
 */
export function pairedDiff(base: ArmResult, arm: ArmResult): { diff: number; se: number; crops: number } {
  const a = arm.valCropLosses ?? [];
  const b = base.valCropLosses ?? [];
  const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : NaN);
  const diff = num(arm.valLoss) - num(base.valLoss);
  if (a.length < 2 || a.length !== b.length) return { diff, se: NaN, crops: Math.min(a.length, b.length) };
  return { diff, se: meanSE(a.map((x, i) => x - b[i])).se, crops: a.length };
}
