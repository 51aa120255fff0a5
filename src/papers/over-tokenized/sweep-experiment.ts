/**
 * Study (B), the paper's §4.2 / Fig. 5 at CPU scale: a byte-level LM on the built-in corpus with
 * n-gram over-encoding for several table sizes m (and any extra arms, e.g. OT, on the same data),
 * against the baseline. Measured beside the arms: the least-squares line of loss against log10 m
 * (slope, its standard error, R²), how well the hash spreads the training n-grams over each
 * table's rows (hash purity), and the OE arms' training throughput against the baseline.
 */
import type { ExperimentContext } from "../../train/experiment.js";
import type { ArmSpec, OverTokenizedExperimentConfig } from "./config.js";
import { textData, trivialBaselines } from "./data.js";
import { overEncodingGeometry, overEncodingIndices } from "./model.js";
import { studyArm } from "./train-arm.js";
import { measureThroughput } from "./throughput.js";
import { sweepArms, type ArmResult, type HashPurity, type SweepFit, type Throughput, type TrivialBaselines } from "./summary.js";

const BYTES = 256;

/** Least-squares line y = a + b·x with R² and the standard error of the slope (NaN below 3 points). */
export function fitLine(xs: number[], ys: number[]): { intercept: number; slope: number; r2: number; slopeSE: number } {
  const n = xs.length;
  if (n < 2) return { intercept: NaN, slope: NaN, r2: NaN, slopeSE: NaN };
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  const slope = sxy / sxx;
  const sse = Math.max(0, syy - slope * sxy);
  return { intercept: my - slope * mx, slope, r2: syy > 0 ? (sxy * sxy) / (sxx * syy) : NaN, slopeSE: n > 2 ? Math.sqrt(sse / (n - 2) / sxx) : NaN };
}

/** The fit of held-out and training loss against log10 m over the swept arms (null below 2 arms). */
export function sweepFit(arms: readonly ArmResult[]): SweepFit | null {
  const sweep = sweepArms(arms);
  if (sweep.length < 2) return null;
  const xs = sweep.map((a) => Math.log10(a.m));
  const v = fitLine(xs, sweep.map((a) => a.valLoss));
  const t = fitLine(xs, sweep.map((a) => a.finalTrainLoss));
  return { points: sweep.length, valSlope: v.slope, valSlopeSE: v.slopeSE, valIntercept: v.intercept, valR2: v.r2, trainSlope: t.slope, trainIntercept: t.intercept, trainR2: t.r2 };
}

/**
 * Hash purity of an OE config on a token stream: the fraction of each table's m + 2t rows that
 * some n-gram of the stream maps to (smallest over tables), and the distinct n-grams per hit row
 * (largest over tables; NaN where exact n-gram ids would pass 2^53).
 */
export function hashPurity(tokens: Int32Array, vocabSize: number, dModel: number, oe: NonNullable<ArmSpec["oe"]>): HashPurity {
  const geo = overEncodingGeometry(oe, vocabSize, dModel);
  const rows = overEncodingIndices(tokens, 1, tokens.length, vocabSize, geo);
  const distinct = new Map<number, number>();
  const ngrams = (g: number): number => {
    if (!distinct.has(g)) {
      if (vocabSize ** g > Number.MAX_SAFE_INTEGER) distinct.set(g, NaN);
      else {
        const keys = new Set<number>();
        for (let i = 0; i < tokens.length; i++) {
          let key = 0;
          for (let j = g - 1; j >= 0; j--) key = key * vocabSize + (i - j >= 0 ? tokens[i - j] : 0);
          keys.add(key);
        }
        distinct.set(g, keys.size);
      }
    }
    return distinct.get(g)!;
  };
  let rowsHitFraction = Infinity;
  let ngramsPerHitRow = -Infinity;
  rows.forEach((r, t) => {
    const hit = new Uint8Array(geo.moduli[t]);
    let n = 0;
    for (const x of r) {
      if (hit[x]) continue;
      hit[x] = 1;
      n++;
    }
    rowsHitFraction = Math.min(rowsHitFraction, n / geo.moduli[t]);
    ngramsPerHitRow = Math.max(ngramsPerHitRow, ngrams(geo.gram[t]) / n);
  });
  return { m: oe.m, hash: oe.hash ?? "mod", distinctNgrams: ngrams(oe.n), rowsHitFraction, ngramsPerHitRow };
}

/** Tokens/s of each swept OE arm against the baseline of the same seed (null without a baseline). */
export function sweepThroughput(arms: readonly ArmResult[], method: Throughput["method"]): Throughput | null {
  const base = arms.find((a) => a.role === "baseline");
  if (!base) return null;
  const oe = sweepArms(arms)
    .filter((a) => a.seed === base.seed)
    .map((a) => ({ arm: a.arm, m: a.m, tokensPerSec: a.tokensPerSec, change: a.tokensPerSec / base.tokensPerSec - 1 }));
  return { method, baselineTokensPerSec: base.tokensPerSec, oe };
}

export type SweepResult = { arms: ArmResult[]; baselines: TrivialBaselines; fit: SweepFit | null; hashPurity: HashPurity[]; throughput: Throughput | null };

export async function runSweepStudy(c: OverTokenizedExperimentConfig, ctx: ExperimentContext): Promise<SweepResult> {
  const data = textData(c);
  const lm = { ...c.text.model, vocabSize: BYTES };
  const oeOf = (m: number) => ({ n: c.text.n, k: c.text.k, m, requireCoprime: true, hash: c.text.hash });
  const arms: ArmResult[] = [];
  for (const m of c.text.mValues) {
    const spec: ArmSpec = m === 0 ? { name: "baseline", oe: null, od: null, mtp: null } : { name: `oe-m${m}`, oe: oeOf(m), od: null, mtp: null };
    arms.push(await studyArm(ctx, c, "text", spec, lm, c.text.train, data));
  }
  for (const spec of c.text.extraArms) arms.push(await studyArm(ctx, c, "text", spec, lm, c.text.train, data));
  const base: ArmSpec = { name: "baseline", oe: null, od: null, mtp: null };
  for (let k = 1; k <= c.text.extraBaselineSeeds; k++) arms.push(await studyArm(ctx, c, "text", base, lm, c.text.train, data, undefined, c.seed + k));
  const swept = c.text.mValues.filter((m) => m > 0);
  let throughput = sweepThroughput(arms, "sequential arms");
  if (c.text.throughput && swept.length && !ctx.signal?.aborted) {
    // OE's cost measured in one process, baseline and OE steps interleaved (the sparse path's cost does not grow with m).
    const mMax = Math.max(...swept);
    ctx.log(`throughput: baseline vs OE m = ${mMax}, steps interleaved in one process`);
    const t = c.text.throughput;
    const r = await measureThroughput({ lm, oes: [oeOf(mMax)], tableUpdate: c.tableUpdate, tokens: data.train, batchSize: c.text.train.batchSize, rounds: t.rounds, perRound: t.perRound, warmup: t.warmup, seed: c.seed });
    throughput = {
      method: "interleaved",
      baselineTokensPerSec: r.baseline.tokensPerSec,
      steps: t.rounds * t.perRound,
      oe: r.oe.map((o) => ({ arm: `oe-m${o.m}`, m: o.m, tokensPerSec: o.tokensPerSec, change: o.tokensPerSec / r.baseline.tokensPerSec - 1, changeOfMin: r.baseline.minMs / o.minMs - 1 })),
    };
  }
  return {
    arms,
    baselines: trivialBaselines(data, BYTES, BYTES),
    fit: sweepFit(arms),
    hashPurity: swept.map((m) => hashPurity(data.train, BYTES, lm.dModel, oeOf(m))),
    throughput,
  };
}
