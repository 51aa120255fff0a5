/**
 * The fine-tuning family: GFT fine-tuned from the trained CFG model (the paper's DiT-XL/2, LlamaGen-3B route).
 * The CFG model gets a β input whose output starts at zero (the official code's zero-initialised projection), so
 * at step 0 the model is the CFG model's conditional branch at every β; it then trains with GFT's loss for a
 * small fraction of the pre-training steps, at its own learning rate and without warm-up.
 */
import type { Array } from "../../engine/index.js";
import type { ExperimentContext } from "../../train/experiment.js";
import type { Rng } from "../../util/rng.js";
import type { GuidanceFreeConfig, TrainConfig } from "./config.js";
import { addZeroBetaProjection, initDenoiser, type DenoiserParams } from "./model.js";
import { addARBeta, initAR, type ARConfig, type ARParams } from "./ar.js";
import { diffusionCommon, diffusionLoss, loadArm, loadDiffusionCFGs, loadDiffusionGFTs, trainArm, type DiffusionSetup } from "./train-arms.js";
import { diffusionProbeInputs, makeDiffusionProbe } from "./functional.js";
import { disposeTree } from "../../engine/index.js";
import type { FinetunePoint, FunctionalSummary, Family, TrainArmSummary } from "./summary.js";
import type { Probe } from "./functional.js";

/** The fine-tuning curve is measured every 1 % of the CFG model's pre-training steps. */
export const curveEvery = (preSteps: number) => Math.max(1, Math.round(preSteps / 100));

/** A training-time evaluation that records the functional distance at each w (keys `gap@w=<w>`). */
export function probeExtra<P>(probe: Probe<P>): (p: P) => Promise<Record<string, number>> {
  return async (p) => Object.fromEntries((await probe.gaps(p)).map((g, i) => [`gap@w=${probe.ws[i]}`, g]));
}

/** The fine-tuning curve: step 0 (the CFG model with a zero β projection) and every recorded evaluation. */
export function finetuneCurve<P>(probe: Probe<P>, ft: TrainArmSummary | null | undefined, preSteps: number): FinetunePoint[] | undefined {
  if (!ft) return undefined;
  const start: FinetunePoint = { step: 0, fraction: 0, gaps: probe.base().map((r) => r.start) };
  const recorded = ((ft.evalCurve ?? []) as ({ step: number } & Record<string, number>)[]).map((e) => ({ step: e.step, fraction: e.step / preSteps, gaps: probe.ws.map((w) => e[`gap@w=${w}`]) }));
  return [start, ...recorded];
}

/** The functional test's summary: the probe's floors, and each GFT model's distance at β = 1/w. Params are not consumed. */
export async function functionalSummary<P>(probe: Probe<P>, gfts: { family: Family; params: P }[], ft: TrainArmSummary | null | undefined, preSteps: number): Promise<FunctionalSummary> {
  const rows = probe.base();
  for (const m of gfts) (await probe.gaps(m.params)).forEach((g, i) => (rows[i].gaps[m.family] = g));
  const curve = finetuneCurve(probe, ft, preSteps);
  return { metric: probe.metric, inputs: probe.inputs, rows, ...(curve ? { finetuneCurve: curve } : {}) };
}

/** The fine-tuning run's training settings: the family's, with the fine-tuning steps and rate, no warm-up. */
export function finetuneTrain(train: TrainConfig, finetune: { steps: number; lr: number }): TrainConfig {
  return { ...train, steps: finetune.steps, lr: finetune.lr, warmupSteps: 0, checkpointEvery: finetune.steps };
}

/** GFT fine-tuned from the diffusion family's CFG arm (`<prefix>-gft-finetune`); null when fine-tuning is off. */
export async function trainDiffusionFinetune(ctx: ExperimentContext, cfg: GuidanceFreeConfig, s: DiffusionSetup, probe?: Probe<DenoiserParams>): Promise<TrainArmSummary | null> {
  if (s.part.finetune.steps <= 0) return null;
  const ft = finetuneTrain(s.part.train, s.part.finetune);
  const from = `${s.prefix}-cfg`;
  const init = () => addZeroBetaProjection(loadArm(ctx, from, initDenoiser(s.dcfg, cfg.seed, "none")), s.dcfg);
  return trainArm<DenoiserParams>(ctx, `${s.prefix}-gft-finetune`, { model: s.dcfg, train: ft, from, gft: cfg.gft }, {
    ...diffusionCommon(cfg, s),
    train: ft,
    init,
    lossFn: diffusionLoss("gft", s.dcfg, cfg),
    ...(probe ? { extra: probeExtra(probe), evalEvery: curveEvery(s.part.train.steps) } : {}),
  });
}

/** GFT fine-tuned from the autoregressive CFG arm (`ar-gft-finetune`); null when fine-tuning is off. */
export async function trainARFinetune(
  ctx: ExperimentContext,
  cfg: GuidanceFreeConfig,
  arCfg: ARConfig,
  common: { nextBatch: (rngs: Record<string, Rng>) => Array[]; rngNames: string[]; seed: number; tokensPerStep: number },
  gftLoss: (p: ARParams, ...batch: Array[]) => Array,
  probe?: Probe<ARParams>,
): Promise<TrainArmSummary | null> {
  const ac = cfg.ar;
  if (ac.finetune.steps <= 0) return null;
  const ft = finetuneTrain(ac.train, ac.finetune);
  const init = () => addARBeta(loadArm(ctx, "ar-cfg", initAR(arCfg, cfg.seed, false)), arCfg, cfg.seed);
  return trainArm<ARParams>(ctx, "ar-gft-finetune", { ar: arCfg, train: ft, from: "ar-cfg", gft: cfg.gft }, {
    ...common,
    train: ft,
    init,
    lossFn: gftLoss,
    ...(probe ? { extra: probeExtra(probe), evalEvery: curveEvery(ac.train.steps) } : {}),
  });
}

/**
 * A diffusion family after its base arms: the ε probe on the two CFG models, GFT fine-tuned from the first
 * (its curve measured by the probe), then the functional test of both GFT models.
 */
export async function finetuneAndProbeDiffusion(
  ctx: ExperimentContext,
  cfg: GuidanceFreeConfig,
  s: DiffusionSetup,
  o: { ddimSteps: number; guidance: number[]; inputs: number },
): Promise<{ ft: TrainArmSummary | null; functional: FunctionalSummary }> {
  const cfgs = loadDiffusionCFGs(ctx, cfg, s.prefix, s.dcfg);
  const inputs = diffusionProbeInputs(s.drawX0, s.dcfg.dataDim, s.schedule, o.ddimSteps, o.inputs, cfg.seed);
  const probe = await makeDiffusionProbe(s.dcfg, inputs, cfgs.map((m) => m.params), o.guidance.filter((w) => w > 1));
  for (const m of cfgs) disposeTree(m.params);
  const ft = await trainDiffusionFinetune(ctx, cfg, s, probe);
  const gfts = loadDiffusionGFTs(ctx, cfg, s.prefix, s.dcfg, ft !== null);
  const functional = await functionalSummary(probe, gfts, ft, s.part.train.steps);
  for (const m of gfts) disposeTree(m.params);
  probe.dispose();
  return { ft, functional };
}
