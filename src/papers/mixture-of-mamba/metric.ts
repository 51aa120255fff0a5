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

/** The horizons the metric is read at, as fractions of the training steps (1 = the paper's "final loss"). */
export const HORIZONS = [0.5, 1] as const;

/** One trained run's smoothed training curves (`curves[key]`, keys of `CURVE_KEYS`). */
export type SeedCurves = { arm: string; seed: number; curves: Record<string, number[]> };

/** The metric row of one curve against a dense curve, both cut at `n` steps. */
function matchRow(run: SeedCurves, dense: SeedCurves, modality: Modality, key: string, n: number, horizon: number): MatchRow {
  const ref = dense.curves[key].slice(0, n);
  const own = run.curves[key].slice(0, n);
  const target = ref.at(-1)!;
  const last = own.at(-1)!;
  const r = stepsToReach(own, target, n);
  const back = last > target ? stepsToReach(ref, last, n) : { step: null, pct: null };
  return { arm: run.arm, seed: run.seed, refSeed: dense.seed, modality, horizon, denseFinal: target, ...r, reverseStep: back.step, reversePct: back.pct };
}

/**
 * Metric rows at every horizon: each non-dense run against the dense run of its own seed (the
 * first dense run when its seed has none), and every dense seed against every other dense seed
 * (the replicates whose saving is the metric's seed noise). `total` is the training steps.
 */
export function matchTable(runs: SeedCurves[], total: number, horizons: readonly number[] = HORIZONS): MatchRow[] {
  const dense = runs.filter((r) => r.arm === "dense");
  if (!dense.length) throw new Error("matchTable: no dense run to compare with");
  const out: MatchRow[] = [];
  for (const h of horizons) {
    const n = Math.max(1, Math.round(h * total));
    for (const run of runs) {
      const refs = run.arm === "dense" ? dense.filter((d) => d.seed !== run.seed) : [dense.find((d) => d.seed === run.seed) ?? dense[0]];
      for (const ref of refs) for (const [modality, key] of CURVE_KEYS) out.push(matchRow(run, ref, modality, key, n, h));
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
