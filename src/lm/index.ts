/** The foundation LM as an `Experiment` (`tinyfoundry train lm` / `tinyfoundry run lm`). */
import type { Experiment } from "../train/experiment.js";
import { lmExperimentSchema, lmPresets, type LMExperimentConfig } from "./config.js";
import { trainLM } from "./experiment.js";
import { reportRun } from "../report/run-report.js";

export { lmExperimentSchema, lmPresets, type LMExperimentConfig } from "./config.js";
export { trainLM, prepareData, type LMSummary } from "./experiment.js";
export { bigramLoss } from "./bigram.js";

export const lmExperiment: Experiment<LMExperimentConfig> = {
  name: "lm",
  title: "Decoder-only transformer language model (foundation)",
  arxiv: "",
  claim: "A small GPT trained for minutes on a CPU beats a bigram model on held-out text by at least 0.3 nats/byte.",
  presets: lmPresets,
  schema: lmExperimentSchema,
  run: async (config, ctx) => {
    const summary = await trainLM(config, {
      run: ctx.run,
      resume: ctx.resume,
      signal: ctx.signal,
      onProgress: (e) => ctx.onProgress(e),
    });
    await reportRun(ctx.run.dir);
    return summary;
  },
};
