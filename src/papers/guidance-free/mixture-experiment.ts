/**
 * The 2-D family (the spec's main CPU test): K classes, each a small Gaussian mixture on a ring so that
 * neighbouring classes overlap. A CFG model, GFT from scratch and GFT fine-tuned from the CFG model; DDIM samples
 * for every w (CFG at w, 2 NFE/step; GFT at β = 1/w, 1 NFE/step); MMD² between samplers (the primary test), MMD²
 * to the exact tilted law, Bayes-classifier accuracy and k-NN precision/recall; a PNG of the samples.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { disposeTree } from "../../engine/index.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import type { GuidanceFreeConfig } from "./config.js";
import { linearVPSchedule, makeGuidedEps, sampleDDIM, type DenoiserConfig, type DenoiserParams, type VPSchedule } from "./model.js";
import { classPosterior, ringMixture, sampleGrid, sampleMixture, tiltedGrid, type Grid, type RingMixture } from "./data.js";
import { mmd2, precisionRecall } from "./metrics.js";
import { scatterPanelPNG } from "./images.js";
import { guidanceFor, loadDiffusionModels, perClassLabels, trainDiffusionBaseArms, type DiffusionSetup, type SeededModel } from "./train-arms.js";
import { finetuneAndProbeDiffusion } from "./finetune-experiment.js";
import type { EvalSummary, Family, PartSummary, SampleRow } from "./summary.js";

const rowsOf = (x: Float32Array, d: number, from: number, to: number) => x.subarray(from * d, to * d);

/** The sampling-noise reference keeps its original stream name, so its samples are unchanged. */
const streamName = (f: Family) => (f === "CFG (resampled)" ? "CFG (2nd seed)" : f);

export async function mixturePart(ctx: ExperimentContext, cfg: GuidanceFreeConfig): Promise<PartSummary> {
  const mc = cfg.mixture;
  const mix = ringMixture(mc.data);
  const K = mc.data.classes;
  const dcfg: DenoiserConfig = { dataDim: 2, hidden: mc.model.hidden, depth: mc.model.depth, numClasses: K, freqDim: mc.model.freqDim };
  const schedule = linearVPSchedule(mc.scheduleSteps);
  const setup: DiffusionSetup = {
    prefix: "mixture",
    dcfg,
    schedule,
    part: mc,
    drawX0: (rng, B) => {
      const labels = Int32Array.from({ length: B }, () => rng.int(K));
      return { x0: sampleMixture(mix, labels, rng), labels };
    },
  };
  const arms = await trainDiffusionBaseArms(ctx, cfg, setup);
  const { ft, functional } = await finetuneAndProbeDiffusion(ctx, cfg, setup, { ddimSteps: mc.sample.ddimSteps, guidance: mc.sample.guidance, inputs: mc.functionalInputs });
  if (ft) arms.gftFinetune = ft;
  const evalSummary = await runArm(ctx, "mixture-eval", { mixture: mc, gft: cfg.gft }, async (run) => mixtureEval(ctx, cfg, mix, dcfg, schedule, run));
  return { arms, eval: evalSummary, functional };
}

async function mixtureEval(ctx: ExperimentContext, cfg: GuidanceFreeConfig, mix: RingMixture, dcfg: DenoiserConfig, schedule: VPSchedule, run: RunDir): Promise<EvalSummary> {
  const mc = cfg.mixture;
  const K = mc.data.classes;
  const n = mc.sample.perClass;
  const labels = perClassLabels(K, n);
  const grid: Grid = { lo: -mc.metrics.gridExtent, hi: mc.metrics.gridExtent, n: mc.metrics.gridSize };
  const bw = mc.metrics.mmdBandwidths;
  const real = sampleMixture(mix, labels, Rng.stream(cfg.seed, "mixture-real"));
  const tilted = new Map<number, Float32Array>();
  for (const w of mc.sample.guidance) {
    const rng = Rng.stream(cfg.seed, `mixture-tilted-${w}`);
    const parts = new Float32Array(K * n * 2);
    for (let k = 0; k < K; k++) parts.set(sampleGrid(tiltedGrid(mix, k, w, grid), grid, n, rng), k * n * 2);
    tilted.set(w, parts);
  }
  // MMD² per class, averaged; either side may pool several sample sets of the same classes (their mixture).
  const classRows = (xs: Float32Array | Float32Array[], k: number) => {
    const list = Array.isArray(xs) ? xs : [xs];
    const pooled = new Float32Array(list.length * n * 2);
    list.forEach((x, i) => pooled.set(rowsOf(x, 2, k * n, (k + 1) * n), i * n * 2));
    return pooled;
  };
  const perClassMMD = (a: Float32Array | Float32Array[], b: Float32Array | Float32Array[]) => {
    let s = 0;
    for (let k = 0; k < K; k++) s += mmd2(classRows(a, k), classRows(b, k), 2, bw);
    return s / K;
  };
  const models = loadDiffusionModels(ctx, cfg, "mixture", dcfg, mc.finetune.steps > 0);
  const ge = makeGuidedEps(dcfg);
  const samples = new Map<string, Float32Array>();
  const rows: SampleRow[] = [];
  const families: SeededModel<DenoiserParams>[] = [...models];
  families.splice(1, 0, { family: "CFG (resampled)", trainSeed: models[0].trainSeed, params: models[0].params });
  const key = (f: Family, seed: number, w: number) => `${f}#${seed}@${w}`;
  // Warm-up: compile each model's jitted ε functions at the evaluation batch shape, so timings exclude compilation.
  for (const { family, params } of models) {
    for (const w of [1, 2]) await sampleDDIM(params, dcfg, schedule, { labels, ddimSteps: 1, guidance: guidanceFor(family, w), rng: new Rng(1), guidedEps: ge });
  }
  for (const w of mc.sample.guidance) {
    for (const { family, trainSeed, params } of families) {
      if (family === "CFG (resampled)" && w === 1) continue;
      const g = guidanceFor(family, w);
      const t0 = performance.now();
      const r = await sampleDDIM(params, dcfg, schedule, { labels, ddimSteps: mc.sample.ddimSteps, guidance: g, rng: Rng.stream(trainSeed, `mixture-sample:${streamName(family)}:${w}`), guidedEps: ge });
      const ms = (performance.now() - t0) / labels.length;
      samples.set(key(family, trainSeed, w), r.x);
      let hit = 0;
      let conf = 0;
      for (let i = 0; i < labels.length; i++) {
        const post = classPosterior(mix, r.x[2 * i], r.x[2 * i + 1]);
        const best = post.indexOf(Math.max(...post));
        if (best === labels[i]) hit++;
        conf += post[labels[i]];
      }
      let prec = 0;
      let rec = 0;
      for (let k = 0; k < K; k++) {
        const pr = precisionRecall(rowsOf(real, 2, k * n, (k + 1) * n), rowsOf(r.x, 2, k * n, (k + 1) * n), 2, mc.metrics.knnK);
        prec += pr.precision / K;
        rec += pr.recall / K;
      }
      rows.push({
        family,
        trainSeed,
        w,
        beta: g.kind === "gft" ? g.beta : null,
        nfe: r.nfe,
        msPerSample: ms,
        samples: labels.length,
        accuracy: hit / labels.length,
        confidence: conf / labels.length,
        precision: prec,
        recall: rec,
        mmdToTilted: perClassMMD(r.x, tilted.get(w)!),
      });
      if (ctx.signal.aborted) break;
    }
  }
  // Distances between samplers at equal guidance: the primary test. GFT against the pooled samples of the two
  // trained CFG models; each CFG model against the other (the floor); the resampled CFG model against the first.
  const cfgSeeds = models.filter((m) => m.family === "CFG").map((m) => m.trainSeed);
  const cfgAt = (w: number, seeds = cfgSeeds) => seeds.map((sd) => samples.get(key("CFG", sd, w))!);
  for (const row of rows) {
    const x = samples.get(key(row.family, row.trainSeed, row.w))!;
    if (row.family === "CFG") row.mmdToCFG = perClassMMD(x, cfgAt(row.w, cfgSeeds.filter((sd) => sd !== row.trainSeed)));
    else if (row.family === "CFG (resampled)") row.mmdToCFG = perClassMMD(x, cfgAt(row.w, [row.trainSeed]));
    else row.mmdToCFG = perClassMMD(x, cfgAt(row.w));
    row.mmdCondToCFG = perClassMMD(cfgAt(1), cfgAt(row.w));
  }
  ge.dispose();
  for (const m of models) disposeTree(m.params);

  // Picture: one row per w (CFG, GFT scratch, GFT fine-tuned, exact tilted law), points coloured by class.
  const panelCols = ["CFG", "GFT scratch", ...(mc.finetune.steps > 0 ? ["GFT fine-tuned"] : []), "exact tilted"];
  const panels = mc.sample.guidance.map((w) =>
    panelCols.map((c) => ({ title: c === "exact tilted" ? `tilted w=${w}` : `${c.replace("GFT fine-tuned", "GFT ft")} w=${w}`, points: c === "exact tilted" ? tilted.get(w)! : samples.get(key(c as Family, cfg.seed, w))!, labels })),
  );
  writeFileSync(join(run.samplesDir, "mixture-samples.png"), scatterPanelPNG(panels, K, mc.metrics.gridExtent));
  return { rows, perClass: n };
}
