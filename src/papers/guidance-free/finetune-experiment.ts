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
import { diffusionCommon, diffusionLoss, loadArm, trainArm, type DiffusionSetup } from "./train-arms.js";
import type { TrainArmSummary } from "./summary.js";

/** The fine-tuning run's training settings: the family's, with the fine-tuning steps and rate, no warm-up. */
export function finetuneTrain(train: TrainConfig, finetune: { steps: number; lr: number }): TrainConfig {
  return { ...train, steps: finetune.steps, lr: finetune.lr, warmupSteps: 0, checkpointEvery: finetune.steps };
}

/** GFT fine-tuned from the diffusion family's CFG arm (`<prefix>-gft-finetune`); null when fine-tuning is off. */
export async function trainDiffusionFinetune(ctx: ExperimentContext, cfg: GuidanceFreeConfig, s: DiffusionSetup): Promise<TrainArmSummary | null> {
  if (s.part.finetune.steps <= 0) return null;
  const ft = finetuneTrain(s.part.train, s.part.finetune);
  const from = `${s.prefix}-cfg`;
  const init = () => addZeroBetaProjection(loadArm(ctx, from, initDenoiser(s.dcfg, cfg.seed, "none")), s.dcfg);
  return trainArm<DenoiserParams>(ctx, `${s.prefix}-gft-finetune`, { model: s.dcfg, train: ft, from, gft: cfg.gft }, { ...diffusionCommon(cfg, s), train: ft, init, lossFn: diffusionLoss("gft", s.dcfg, cfg) });
}

/** GFT fine-tuned from the autoregressive CFG arm (`ar-gft-finetune`); null when fine-tuning is off. */
export async function trainARFinetune(
  ctx: ExperimentContext,
  cfg: GuidanceFreeConfig,
  arCfg: ARConfig,
  common: { nextBatch: (rngs: Record<string, Rng>) => Array[]; rngNames: string[]; seed: number; tokensPerStep: number },
  gftLoss: (p: ARParams, ...batch: Array[]) => Array,
): Promise<TrainArmSummary | null> {
  const ac = cfg.ar;
  if (ac.finetune.steps <= 0) return null;
  const ft = finetuneTrain(ac.train, ac.finetune);
  const init = () => addARBeta(loadArm(ctx, "ar-cfg", initAR(arCfg, cfg.seed, false)), arCfg, cfg.seed);
  return trainArm<ARParams>(ctx, "ar-gft-finetune", { ar: arCfg, train: ft, from: "ar-cfg", gft: cfg.gft }, { ...common, train: ft, init, lossFn: gftLoss });
}
