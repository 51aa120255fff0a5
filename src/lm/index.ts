/** The foundation LM as an `Experiment` (`tinyfoundry train lm` / `tinyfoundry run lm`). */
import type { Experiment } from "../train/experiment.js";
import { lmExperimentSchema, lmPresets, type LMExperimentConfig } from "./config.js";
import { lmClaims, trainLM, type LMSummary } from "./experiment.js";
import { writeLMReport } from "./report.js";

export { lmExperimentSchema, lmPresets, type LMExperimentConfig } from "./config.js";
export { trainLM, prepareData, lmClaims, LM_CLAIM, type LMSummary } from "./experiment.js";
export { writeLMReport, lmResultsMarkdown } from "./report.js";
export { bigramLoss } from "./bigram.js";

export const lmExperiment: Experiment<LMExperimentConfig, LMSummary> = {
  name: "lm",
  title: "Decoder-only transformer language model (foundation)",
  arxiv: "",
  claim: "A small GPT trained for minutes on a CPU beats a bigram model on held-out text by at least 0.3 nats/byte.",
  presets: lmPresets,
  schema: lmExperimentSchema,
  run: (config, ctx) => trainLM(config, { run: ctx.run, resume: ctx.resume, signal: ctx.signal, onProgress: (e) => ctx.onProgress(e) }),
  claims: (summary, config) => lmClaims(summary, config),
  report: (run, summary, verdicts, config) => writeLMReport(run, summary, verdicts, config),
};
