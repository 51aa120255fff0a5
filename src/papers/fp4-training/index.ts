/**
 * FP4 training (arXiv 2501.17116) as a library and an `Experiment`
 * (`npx tinyfoundry run fp4-training --preset tiny|quick|full`).
 */
import type { Experiment } from "../../train/experiment.js";
import { fp4TrainingPresets, fp4TrainingSchema, type FP4TrainingConfig } from "./config.js";
import { runFP4Training } from "./experiment.js";
import { fp4Claims } from "./claims.js";
import { writeFP4Report } from "./report.js";
import type { FP4TrainingSummary } from "./summary.js";

export * from "./model.js";
export { fidelity, nonzeroFraction, type Fidelity } from "./metrics.js";
export { ARM_NAMES, ARM_DESCRIPTIONS, armLinearConfig, fp4TrainingPresets, fp4TrainingSchema, type ArmName, type FP4TrainingConfig } from "./config.js";
export { runFP4Training, trainArm } from "./experiment.js";
export { captureActivations, fidelityTable } from "./activation-fidelity.js";
export { injectOutlierChannel, injectIntoRows, type OutlierInjection } from "./outliers.js";
export { fp4Claims, FP4_CLAIMS, MARGIN_FRACTION, MIN_MARGIN, trainedMargin, seedFloor } from "./claims.js";
export { writeFP4Report } from "./report.js";
export { PAPER as FP4_PAPER, type ArmSummary, type FidelityRow, type FP4TrainingSummary, type MechanismSummary } from "./summary.js";

export const fp4TrainingExperiment: Experiment<FP4TrainingConfig, FP4TrainingSummary> = {
  name: "fp4-training",
  title: "Optimizing Large Language Model Training Using FP4 Quantization",
  arxiv: "2501.17116",
  claim:
    "Training with FP4 (E2M1) weights and activations in every linear layer, made stable by a differentiable gradient estimator for weights and outlier clamping with compensation for activations, reaches nearly the loss of high-precision training, while a direct FP4 cast and tensor-wise scaling do clearly worse.",
  presets: fp4TrainingPresets,
  schema: fp4TrainingSchema,
  run: (config, ctx) => runFP4Training(config, ctx),
  claims: (summary, config) => fp4Claims(summary, config),
  report: (run, summary, verdicts, config) => writeFP4Report(run, summary, verdicts, config),
};
