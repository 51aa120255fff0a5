/**
 * The digits-autoregressive family (the paper's LlamaGen/VAR route): digits quantized to a few grey levels, one
 * token per pixel, a class-conditional decoder. CFG mixes the conditional and unconditional logits at sampling
 * time (2 NFE per token); GFT mixes them in the training loss and samples with one pass at β = 1/w.
 */
import { np, disposeTree, type Array } from "../../engine/index.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { defaultLMConfig } from "../../nn/transformer.js";
import { Rng } from "../../util/rng.js";
import type { GuidanceFreeConfig } from "./config.js";
import { arCfgLoss, arGftLoss, arInputs, initAR, makeGuidedNextToken, sampleAR, type ARConfig, type ARParams } from "./ar.js";
import type { ClassifierConfig } from "./classifier.js";
import { dequantize, loadDigits, quantize, type DigitSet } from "./data.js";
import { cfgSeed2Arm, guidanceFor, loadArm, secondSeed, trainArm, trainClassifierArm, type SeededModel } from "./train-arms.js";
import { functionalSummary, trainARFinetune } from "./finetune-experiment.js";
import { makeARProbe } from "./functional.js";
import { evaluateDigitSamplers, type ImageSampler } from "./digit-eval.js";
import type { PartSummary, TrainArmSummary } from "./summary.js";

export async function arPart(ctx: ExperimentContext, cfg: GuidanceFreeConfig): Promise<PartSummary> {
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
  const cfgFn = (p: ARParams, inT: Array, tg: Array, y: Array, beta: Array) => arCfgLoss(p, arCfg, inT, tg, y, beta);
  const s2 = secondSeed(cfg.seed);
  arms.cfg = await trainArm<ARParams>(ctx, "ar-cfg", { ar: arCfg, train: ac.train }, { ...common, train: ac.train, init: () => initAR(arCfg, cfg.seed, false), lossFn: cfgFn });
  arms.cfgSeed2 = await trainArm<ARParams>(ctx, cfgSeed2Arm("ar"), { ar: arCfg, train: ac.train, seed: s2 }, { ...common, seed: s2, train: ac.train, init: () => initAR(arCfg, s2, false), lossFn: cfgFn });
  arms.gftScratch = await trainArm<ARParams>(ctx, "ar-gft-scratch", { ar: arCfg, train: ac.train, gft: cfg.gft }, { ...common, train: ac.train, init: () => initAR(arCfg, cfg.seed, true), lossFn: gftFn });
  const loadCFGs = (): SeededModel<ARParams>[] => [
    { family: "CFG", trainSeed: cfg.seed, params: loadArm(ctx, "ar-cfg", initAR(arCfg, cfg.seed, false)) },
    { family: "CFG", trainSeed: s2, params: loadArm(ctx, cfgSeed2Arm("ar"), initAR(arCfg, s2, false)) },
  ];
  const loadGFTs = (withFt: boolean): SeededModel<ARParams>[] => [
    { family: "GFT scratch", trainSeed: cfg.seed, params: loadArm(ctx, "ar-gft-scratch", initAR(arCfg, cfg.seed, true)) },
    ...(withFt ? [{ family: "GFT fine-tuned" as const, trainSeed: cfg.seed, params: loadArm(ctx, "ar-gft-finetune", initAR(arCfg, cfg.seed, true)) }] : []),
  ];
  // The functional test: per-token KL on held-out validation digits (balanced over classes), teacher-forced.
  const valTok = quantize(data.val.images, ac.levels);
  const probeIdx: number[] = [];
  const perClass = Math.max(1, Math.floor(ac.functionalInputs / K));
  for (let k = 0; k < K; k++) probeIdx.push(...data.val.labels.reduce<number[]>((acc, l, i) => (l === k && acc.length < perClass ? [...acc, i] : acc), []));
  const probeTok = new Int32Array(probeIdx.length * T);
  probeIdx.forEach((j, i) => probeTok.set(valTok.subarray(j * T, (j + 1) * T), i * T));
  const cfgs = loadCFGs();
  const probe = await makeARProbe(arCfg, probeTok, Int32Array.from(probeIdx.map((j) => data.val.labels[j])), cfgs.map((m) => m.params), ac.sample.guidance.filter((w) => w > 1));
  for (const m of cfgs) disposeTree(m.params);
  const ft = await trainARFinetune(ctx, cfg, arCfg, common, gftFn, probe);
  if (ft) arms.gftFinetune = ft;
  const gfts = loadGFTs(ft !== null);
  const functional = await functionalSummary(probe, gfts, ft, ac.train.steps);
  for (const m of gfts) disposeTree(m.params);
  probe.dispose();
  const models = () => [...loadCFGs(), ...loadGFTs(ft !== null)];
  const sampler = (): ImageSampler<ARParams> => {
    const nt = makeGuidedNextToken(arCfg);
    return {
      // One position compiles both jitted decode steps at the evaluation batch shape.
      warm: async (params, family, w, labels) => void (await sampleAR(params, arCfg, { labels, guidance: guidanceFor(family, w), rng: new Rng(1), nextToken: nt, positions: 1 })),
      sample: async (params, family, w, labels, rng) => {
        const r = await sampleAR(params, arCfg, { labels, guidance: guidanceFor(family, w), rng, nextToken: nt });
        return { images: dequantize(r.tokens, ac.levels), nfe: r.nfe };
      },
      dispose: () => nt.dispose(),
    };
  };
  const evalSummary = await runArm(ctx, "ar-eval", { ar: ac, gft: cfg.gft }, async (run) =>
    evaluateDigitSamplers(ctx, run, { prefix: "ar", seed: cfg.seed, ccfg, data: qdata, side: ac.side, perClass: ac.sample.perClass, knnK: ac.knnK, guidance: ac.sample.guidance, models, sampler }),
  );
  return { arms, classifier, eval: evalSummary, functional };
}
