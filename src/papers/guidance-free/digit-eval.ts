/**
 * Evaluation shared by the two digit families (diffusion and autoregressive): every sampler family at every w
 * draws `perClass` images of each class; a classifier trained on real digits scores them (Fréchet distance of
 * its features to the real validation set, accuracy, confidence, feature-space precision/recall), next to the
 * same metrics of real training digits (the evaluation's resolution); one PNG grid per w.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { disposeTree } from "../../engine/index.js";
import type { ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import { initClassifier, makeClassifierEval, type ClassifierConfig } from "./classifier.js";
import type { DigitSet } from "./data.js";
import { digitGridPNG } from "./images.js";
import { balancedSubset, guidanceFor, imageMetrics, loadArm, perClassLabels, type SeededModel } from "./train-arms.js";
import type { EvalSummary, Family, SampleRow } from "./summary.js";

/** How a family's models sample: a compile-only warm-up call, then full sampling to images in [0, 1]. */
export type ImageSampler<P> = {
  warm: (params: P, family: Family, w: number, labels: Int32Array) => Promise<void>;
  sample: (params: P, family: Family, w: number, labels: Int32Array, rng: Rng) => Promise<{ images: Float32Array; nfe: number }>;
  dispose: () => void;
};

export async function evaluateDigitSamplers<P>(
  ctx: ExperimentContext,
  run: RunDir,
  o: {
    /** Arm and stream prefix ("digits", "ar"). */
    prefix: string;
    seed: number;
    ccfg: ClassifierConfig;
    data: { train: DigitSet; val: DigitSet };
    side: number;
    perClass: number;
    knnK: number;
    guidance: number[];
    models: () => SeededModel<P>[];
    sampler: () => ImageSampler<P>;
  },
): Promise<EvalSummary> {
  const K = o.ccfg.numClasses;
  const cp = loadArm(ctx, `${o.prefix}-classifier`, initClassifier(o.ccfg, o.seed));
  const evalFn = makeClassifierEval(o.ccfg);
  const realFeatures = (await evalFn.run(cp, o.data.val.images)).features;
  const n = o.perClass;
  const labels = perClassLabels(K, n);
  const trainRef = balancedSubset(o.data.train, K, n);
  const realVsReal = await imageMetrics(cp, o.ccfg, evalFn, trainRef.images, trainRef.labels, realFeatures, o.knnK);
  const models = o.models();
  const sampler = o.sampler();
  // Warm-up: compile the jitted sampling steps at the evaluation batch shape, so timings exclude compilation.
  for (const { family, params } of models.filter((m, i) => models.findIndex((x) => x.family === m.family) === i)) {
    for (const w of [1, 2]) await sampler.warm(params, family, w, labels);
  }
  const rows: SampleRow[] = [];
  const grids = new Map<string, Float32Array>();
  for (const w of o.guidance) {
    for (const { family, trainSeed, params } of models) {
      const g = guidanceFor(family, w);
      const t0 = performance.now();
      const r = await sampler.sample(params, family, w, labels, Rng.stream(trainSeed, `${o.prefix}-sample:${family}:${w}`));
      const ms = (performance.now() - t0) / labels.length;
      // The grids show the first model of each family.
      if (!grids.has(`${family}@${w}`)) grids.set(`${family}@${w}`, r.images);
      const m = await imageMetrics(cp, o.ccfg, evalFn, r.images, labels, realFeatures, o.knnK);
      rows.push({ family, trainSeed, w, beta: g.kind === "gft" ? g.beta : null, nfe: r.nfe, msPerSample: ms, samples: labels.length, ...m });
      if (ctx.signal.aborted) break;
    }
  }
  sampler.dispose();
  evalFn.dispose();
  disposeTree(cp);
  for (const m of models) disposeTree(m.params);
  const cols = [{ title: "real", images: trainRef.images, perClass: n }, ...[...grids.entries()].map(([k, v]) => ({ title: k, images: v, perClass: n }))];
  for (const w of o.guidance) {
    const sel = cols.filter((c) => c.title === "real" || c.title.endsWith(`@${w}`));
    writeFileSync(join(run.samplesDir, `${o.prefix}-w${w}.png`), digitGridPNG(sel, o.side, K, 6));
  }
  return { rows, perClass: n, realVsReal };
}
