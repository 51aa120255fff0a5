/** Mixture-of-Mamba (arXiv 2501.16295) as an `Experiment` (`tinyfoundry run mixture-of-mamba`) and a library. */
import type { Experiment } from "../../train/experiment.js";
import { momPresets, momSchema, type MoMConfig } from "./config.js";
import { runMixtureOfMamba } from "./experiment.js";
import { momClaims } from "./claims.js";
import { writeMoMReport } from "./report.js";
import type { MoMSummary } from "./summary.js";

export { momPresets, momSchema, ARMS, armRunName, type MoMConfig, type ArmName } from "./config.js";
export { routedLinear, modalityLinearFn, initMoMLM, momForward, modalityLosses, SPLIT_ALL, SPLIT_NONE, type SplitFlags, type RoutingArrays } from "./model.js";
export { prepareMoMData, makeBatch, makeDocument, routingFor, shuffledModality, kMeans, vqEncode, vqDistortion, loadDigits, type MoMData, type HostBatch, type Routing } from "./data.js";
export { runMixtureOfMamba, ARM_SPLITS, SHUFFLE_STREAM, SHUFFLE_EVAL_STREAM, initArm, armSeeds } from "./experiment.js";
export { stepsToReach, stepsSaved, smooth, matchTable, HORIZONS, type SeedCurves } from "./metric.js";
export { modalityBaselines, unigramLoss } from "./baselines.js";
export { momClaims, stepsFloor, SHUFFLED_ARM, IMAGE_STEPS, TEXT_STEPS, IMAGE_GAINS_MORE, BEYOND_PARAMS, ABLATION } from "./claims.js";
export { writeMoMReport, resultsMarkdown } from "./report.js";
export { PAPER, type MoMSummary, type ArmSummary, type MatchRow } from "./summary.js";

export const mixtureOfMambaExperiment: Experiment<MoMConfig, MoMSummary> = {
  name: "mixture-of-mamba",
  title: "Mixture-of-Mamba: Enhancing Multi-Modal State-Space Models with Modality-Aware Sparsity",
  arxiv: "2501.16295",
  claim:
    "Splitting Mamba's in/x/dt/out projections by modality (conv, A and D shared) reaches the dense Mamba's final loss in fewer steps, more so for images than for text (Chameleon 1.4B: 42.50% image, 65.40% text); we add a parameter-matched control with the same experts and shuffled modality ids.",
  presets: momPresets,
  schema: momSchema,
  run: runMixtureOfMamba,
  claims: (summary) => momClaims(summary),
  report: writeMoMReport,
};
