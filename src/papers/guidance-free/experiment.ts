/**
 * `tinyfoundry run guidance-free`: guidance-free training (GFT, arXiv 2501.15420) against classifier-free
 * guidance (CFG) at small scale, following the planned CPU experiments of the spec (§2.7). Each family trains
 * its arms through `runArm` (`<run>/arms/<arm>/`, resumable) and evaluates them in an eval arm:
 *  - 2-D Gaussian mixtures (`mixture-experiment.ts`),
 *  - MNIST digits with a diffusion MLP denoiser (`digits-experiment.ts`),
 *  - the autoregressive variant on quantized digits (`ar-experiment.ts`),
 *  - in each, GFT fine-tuned from the CFG model (`finetune-experiment.ts`).
 * The claims (`claims.ts`) judge the returned summary; the runner writes summary.json, verdicts.json and calls
 * the report (`report.ts`).
 */
import type { ExperimentContext } from "../../train/experiment.js";
import type { GuidanceFreeConfig } from "./config.js";
import { mixturePart } from "./mixture-experiment.js";
import { digitsPart } from "./digits-experiment.js";
import { arPart } from "./ar-experiment.js";
import type { GuidanceFreeSummary } from "./summary.js";

export async function runGuidanceFree(cfg: GuidanceFreeConfig, ctx: ExperimentContext): Promise<GuidanceFreeSummary> {
  const summary: GuidanceFreeSummary = { seed: cfg.seed };
  if (cfg.mixture.enabled) summary.mixture = await mixturePart(ctx, cfg);
  if (cfg.digits.enabled && !ctx.signal.aborted) summary.digits = await digitsPart(ctx, cfg);
  if (cfg.ar.enabled && !ctx.signal.aborted) summary.ar = await arPart(ctx, cfg);
  return summary;
}
