/** Guidance-free training ("Visual Generation Without Guidance", arXiv 2501.15420) as an `Experiment`. */
import type { Experiment } from "../../train/experiment.js";
import { guidanceFreePresets, guidanceFreeSchema, type GuidanceFreeConfig } from "./config.js";
import { runGuidanceFree } from "./experiment.js";
import { guidanceFreeClaims } from "./claims.js";
import { writeGuidanceFreeReport } from "./report.js";
import type { GuidanceFreeSummary } from "./summary.js";

export { guidanceFreePresets, guidanceFreeSchema, type GuidanceFreeConfig } from "./config.js";
export * from "./model.js";
export * from "./ar.js";
export * from "./metrics.js";
export { ringMixture, sampleMixture, classLogDensity, classPosterior, tiltedGrid, sampleGrid, loadDigits, loadMnistRaw, downsample, quantize, dequantize } from "./data.js";
export { initClassifier, classifierForward, classifierLoss, makeClassifierEval, accuracyAndConfidence } from "./classifier.js";
export { runGuidanceFree } from "./experiment.js";
export { guidanceFor } from "./train-arms.js";
export { guidanceFreeClaims, GF_CLAIMS, QUICK_FRACTION } from "./claims.js";
export { writeGuidanceFreeReport } from "./report.js";
export type { GuidanceFreeSummary, PartSummary, SampleRow, Family } from "./summary.js";

export const guidanceFreeExperiment: Experiment<GuidanceFreeConfig, GuidanceFreeSummary> = {
  name: "guidance-free",
  title: "Visual Generation Without Guidance (guidance-free training, GFT)",
  arxiv: "2501.15420",
  claim: "A model trained with GFT samples at β = 1/w like classifier-free guidance at w, with one network evaluation per step instead of two.",
  presets: guidanceFreePresets,
  schema: guidanceFreeSchema,
  run: (config, ctx) => runGuidanceFree(config, ctx),
  claims: (summary, config) => guidanceFreeClaims(summary, config),
  report: (run, summary, verdicts, config) => writeGuidanceFreeReport(run, summary, verdicts, config),
};
