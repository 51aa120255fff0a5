/** Tiny Baichuan-Omni-1.5 (arXiv 2501.15368) as an `Experiment`: `tinyfoundry run omni`. */
import type { Experiment } from "../../train/experiment.js";
import { omniPresets, omniSchema, type OmniExperimentConfig } from "./config.js";
import { runOmni } from "./experiment.js";
import { omniClaims } from "./claims.js";
import { writeOmniReport } from "./report.js";
import type { OmniSummary } from "./summary.js";

export { omniPresets, omniSchema, type OmniExperimentConfig } from "./config.js";
export { runOmni } from "./experiment.js";
export { prepareOmniData, type OmniData } from "./prepare.js";
export { evalOmni } from "./omni-eval.js";
export { generateSpeech } from "./speech-generation.js";
export { encodeAll, decodeAll } from "./tokenizer-experiment.js";
export { omniClaims, OMNI_CLAIMS } from "./claims.js";
export { writeOmniReport } from "./report.js";
export type { OmniSummary, OmniEval, TokArmSummary, ProbeSummary, StageSummary, VisionPretrainSummary } from "./summary.js";
export * from "./model.js";
export * from "./tokenizer.js";
export * from "./rvq.js";
export * from "./stages.js";
export { makeGroupStep, groupOptInit, trainableGroups, type GroupLR } from "./train-step.js";
export { formats, packBatch, batchList, batchFromList, DATA_KINDS, type DataKind, type Example, type Codes } from "./sequences.js";
export { WordTokenizer, allQuestions, allStatements, TRAIN_VOICES, HELD_OUT_VOICES } from "./world.js";
export { synthesize, loadEspeak, espeakAvailable, planSpeech, buildSpeech, ESPEAK_MISSING, type Utterance } from "./speech.js";
export { characterErrorRate, editDistance } from "./probe.js";
export { initVisionClassifier, visionLogits, classificationAccuracy, trainVisionPretrain, withPretrainedVision } from "./vision-pretrain.js";

export const omniExperiment: Experiment<OmniExperimentConfig, OmniSummary> = {
  name: "omni",
  title: "Baichuan-Omni-1.5 Technical Report (tiny omni-modal model)",
  arxiv: "2501.15368",
  claim:
    "A 12.5 Hz 8-layer RVQ tokenizer trained with reconstruction + frozen-LM transcript loss carries acoustic and semantic information, and staged training with text replay keeps text ability while adding speech and images.",
  presets: omniPresets,
  schema: omniSchema,
  run: (config, ctx) => runOmni(config, ctx),
  claims: (summary, config) => omniClaims(summary, config),
  report: (run, summary, verdicts, config) => writeOmniReport(run, summary, verdicts, config),
};
