/**
 * The paper's metric (arXiv 2501.16295, abstract): the share of the dense model's training steps a
 * model needs to reach the dense model's final loss, per modality. Every arm has the same FLOPs per
 * token, so the step ratio is the FLOP ratio. Pure functions over loss curves.
 */
import type { MoMConfig } from "./config.js";
import type { MatchRow, Modality } from "./summary.js";

/** The smoothing window of the training curves, in steps. */
export const smoothWindow = (cfg: MoMConfig) => Math.max(1, Math.round(cfg.smoothFraction * cfg.train.steps));

/** Trailing moving average of `xs` over `w` values. */
export function smooth(xs: number[], w: number): number[] {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    if (i >= w) s -= xs[i - w];
    out.push(s / Math.min(i + 1, w));
  }
  return out;
}

/**
 * The first step at which `curve` (smoothed) is at or below `target`, as a percentage of `total`
 * steps; null when it never gets there.
 */
export function stepsToReach(curve: number[], target: number, total: number): { step: number | null; pct: number | null } {
  const i = curve.findIndex((v) => v <= target);
  if (i < 0) return { step: null, pct: null };
  return { step: i + 1, pct: (100 * (i + 1)) / total };
}

/** The metric's key in the per-step metrics of an arm. */
export const CURVE_KEYS: [Modality, string][] = [
  ["image", "imageLoss"],
  ["text", "textLoss"],
  ["total", "loss"],
];

/**
 * Metric rows: for every non-dense arm and modality, where its smoothed curve reaches dense's final
 * smoothed loss, and (when it ends above it) where dense's curve reaches the arm's final loss.
 * `curves[arm][key]` are the smoothed training curves of one seed's arms.
 */
export function matchTable(curves: Record<string, Record<string, number[]>>, total: number, seed: number): MatchRow[] {
  const dense = curves.dense;
  const out: MatchRow[] = [];
  for (const arm of Object.keys(curves)) {
    if (arm === "dense") continue;
    for (const [modality, key] of CURVE_KEYS) {
      const target = dense[key].at(-1)!;
      const own = curves[arm][key].at(-1)!;
      const r = stepsToReach(curves[arm][key], target, total);
      const back = own > target ? stepsToReach(dense[key], own, total) : { step: null, pct: null };
      out.push({ arm, seed, refSeed: seed, modality, denseFinal: target, ...r, reverseStep: back.step, reversePct: back.pct });
    }
  }
  return out;
}

/**
 * The steps an arm saves against dense, in % of the dense run (signed): 100 − pct when it reaches
 * dense's final loss; −(100 − reversePct) when dense reaches the arm's final loss first; 0 when the
 * row has neither (they end level).
 */
export function stepsSaved(r: MatchRow): number {
  if (r.pct !== null) return 100 - r.pct;
  if (r.reversePct !== null) return -(100 - r.reversePct);
  return 0;
}
