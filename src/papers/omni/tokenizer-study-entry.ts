/** The tokenizer study of Baichuan-Omni-1.5 as an `Experiment`: `tinyfoundry run omni-tokenizer`. */
import type { Experiment } from "../../train/experiment.js";
import { tokStudyPresets, tokStudySchema, type TokStudyConfig } from "./tokenizer-study-config.js";
import { runTokenizerStudy } from "./tokenizer-study.js";
import { tokStudyClaims } from "./tokenizer-study-claims.js";
import { writeTokStudyReport } from "./tokenizer-study-report.js";
import type { TokStudySummary } from "./tokenizer-study-summary.js";

export { tokStudyPresets, tokStudySchema, type TokStudyConfig } from "./tokenizer-study-config.js";
export { runTokenizerStudy, applyNuisance, readBackSequence } from "./tokenizer-study.js";
export { tokStudyClaims, TOK_STUDY_CLAIMS } from "./tokenizer-study-claims.js";
export type { TokStudySummary } from "./tokenizer-study-summary.js";

export const omniTokenizerExperiment: Experiment<TokStudyConfig, TokStudySummary> = {
  name: "omni-tokenizer",
  title: "Baichuan-Omni-1.5 audio tokenizer: reconstruction-only (T1) vs + frozen-LM transcript loss (T2)",
  arxiv: "2501.15368",
  claim: "A 12.5 Hz 8-layer RVQ tokenizer trained with a frozen LM predicting the transcript carries more linguistic content, mostly in its first layers, than one trained on reconstruction alone, at little reconstruction cost.",
  presets: tokStudyPresets,
  schema: tokStudySchema,
  run: (config, ctx) => runTokenizerStudy(config, ctx),
  claims: (summary, config) => tokStudyClaims(summary, config),
  report: (run, summary, verdicts, config) => writeTokStudyReport(run, summary, verdicts, config),
};
